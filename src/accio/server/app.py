"""The REST API of an Accio home (cli.md §3, the gateway's API, reshaped): everything the CLI does.

::

    from accio.server.app import create_app
    app = create_app()                      # $ACCIO_HOME; serve with accio.server.http

Routes live under ``/api/v1`` (one module per resource in :mod:`accio.server.routes`); the schema
is at ``/openapi.json`` (``/docs`` is off: Swagger UI loads from a CDN, and the server must
work offline). Listings take ``page`` (from 1) and
``per_page`` and return ``total``. Every error has the body ``{"errors": [{"file", "path",
"message"}]}`` (see :mod:`accio.server.errors`). Routes reach the home only through the client
contract (:class:`~accio.client.contract.AccioClient`), injected with FastAPI's ``Depends``.
Endpoints are plain functions, run by FastAPI in its thread pool: storage calls block.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accio import __version__
from accio.client.contract import AccioClient
from accio.client.models import ErrorBody, ErrorItem
from accio.config import DEFAULT_MAX_BODY_BYTES, Settings
from accio.server.errors import ERROR_RESPONSES, install_error_handlers
from accio.server.routes import api_router
from accio.server.status import SchedulerCondition

log = logging.getLogger("accio.server")

API_PREFIX = "/api/v1"


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 in the API's error shape
    before it fills memory, whether announced by Content-Length or streamed in chunks; a form
    body that is not UTF-8 gets 400."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body too large: the limit is {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                if not text.isdigit():
                    await _error(send, 400, "bad Content-Length header")
                    return
                if int(text) > self.max_bytes:
                    await _error(send, 413, self._message())
                    return
        if _is_form(scope):
            await self._checked_form(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # handled by the app's handler: the API's shape
                    raise StarletteHTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    async def _checked_form(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A form body (small: the UI's) is read whole and must be UTF-8, so that no page
        handler fails decoding it: 400 instead of a 500."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _error(send, 413, self._message())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            await _error(send, 400, "the form body is not valid UTF-8")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # http.disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = bytes(value).split(b";")[0].strip().lower()
            return kind == b"application/x-www-form-urlencoded"
    return False


async def _error(send: Send, status: int, message: str) -> None:
    body = json.dumps(ErrorBody(errors=[ErrorItem(message=message)]).model_dump(mode="json"))
    data = body.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    headers.append((b"connection", b"close"))  # the unread body must not be taken as a request
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def create_app(
    settings: Settings | None = None,
    client: AccioClient | None = None,
    *,
    owns_client: bool | None = None,
    max_body_bytes: int | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> FastAPI:
    """The API (and the web UI when :mod:`accio.server.ui` is installed) over one Accio home.

    Without ``client``, a local one is opened on ``settings`` (default: the environment). The
    app closes its client when it shuts down if it opened it, or if ``owns_client`` says so.
    Request bodies over ``max_body_bytes`` (default: the settings', 16 MiB) get 413.
    A request whose Host is not in ``allowed_hosts`` gets 400 (None: no check; the served
    app always has one, see :func:`accio.service.serve_http`). With the settings' ``auth``
    (``ACCIO_AUTH=on``) every request but the login page needs a signed-in user
    (:mod:`accio.server.auth`).
    """
    if max_body_bytes is None:
        max_body_bytes = settings.max_body_bytes if settings else DEFAULT_MAX_BODY_BYTES
    if client is None:
        from accio.client.local import LocalClient

        local = LocalClient(settings=settings or Settings.from_env(), autostart=False)
        local.open()  # open storage now: lazy opening from pool threads would race
        client = local
        owns_client = True if owns_client is None else owns_client
    else:
        opener = getattr(client, "open", None)
        if callable(opener):
            opener()
    owned = bool(owns_client)
    app_client = client

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            app_client.close()

    app = FastAPI(
        title="Accio",
        version=__version__,
        description="Typed workflows, parameter sweeps, seeds and memoized results.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN: off, the UI is offline
        redoc_url=None,
    )
    app.state.client = client
    app.state.write_lock = threading.RLock()
    install_error_handlers(app)
    condition = app.state.scheduler_condition = SchedulerCondition(client)
    change_token = getattr(getattr(client, "storage", None), "change_token", None)
    if callable(change_token):  # inside the guard: only authorised requests reach it
        from accio.server.cache import ResponseCache

        app.add_middleware(ResponseCache, change_token=change_token, context=condition)
    _install_guard(app, settings or getattr(client, "settings", None), client, allowed_hosts)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.include_router(api_router(), prefix=API_PREFIX)

    @app.get("/health", tags=["meta"], responses=ERROR_RESPONSES)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    _install_ui(app, client)
    return app


def _install_guard(
    app: FastAPI, settings: Settings | None, client: AccioClient, hosts: frozenset[str] | None
) -> None:
    from accio.server.auth import Guard, Sessions, install_login, session_key
    from accio.storage.accounts import AccountsApi

    accounts = None
    sessions = Sessions()
    if settings is not None and settings.auth:
        sessions = Sessions(session_key(settings.home))
        accounts = getattr(client, "storage", None)
        if not isinstance(accounts, AccountsApi):
            raise TypeError("ACCIO_AUTH=on needs a client with a storage (a local home)")
        install_login(app, accounts, sessions, hosts)
    app.state.auth = accounts is not None
    app.add_middleware(Guard, hosts=hosts, accounts=accounts, client=client, sessions=sessions)


def _install_ui(app: FastAPI, client: AccioClient) -> None:
    try:
        from accio.server.ui import install
    except ImportError as exc:  # the web UI is optional: the API works without it
        log.info("web UI not installed: %s", exc)
        return
    install(app, client)


__all__ = ["API_PREFIX", "BodyLimit", "create_app"]
