"""The server's guard: the Host header check (always) and, with ``ACCIO_AUTH=on``, who may do what.

With authentication on:

* the REST API wants ``Authorization: Bearer <token>`` (a token of ``accio token create``) on
  every request, read or write (401 otherwise); the web UI's session cookie also works, and a
  state-changing request made with it must carry the CSRF token (``X-CSRF-Token``);
* the web UI wants a session: ``/login`` (user and token) stores a session row and sets a
  signed, HttpOnly, SameSite=Lax cookie naming it; every state-changing request must carry the
  session's CSRF token (the ``csrf_token`` form field or the ``X-CSRF-Token`` header; 403
  otherwise). A session is live while its row is not ended or expired and its token not
  revoked: ``POST /logout`` ends the row, so a copy of the cookie kept anywhere is dead too
  (a signature alone could not be taken back before it expires);
* editing, killing or deleting a run is for its owner or an admin (403 otherwise), ``gc`` for
  admins; the owner of what a request creates is the signed-in user (:data:`ACTING_USER`);
  a new version of a workflow is for the user who created the workflow or an admin (checked
  by the client where it stores it, since the id is in the body: :data:`ACTING_ADMIN`).

The guard is a plain ASGI middleware, so no route can forget it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accio.client.contract import ACTING_ADMIN, ACTING_USER, AccioClient
from accio.errors import AccioError
from accio.storage.accounts import AccountsApi, SessionRecord, UserRecord

SESSION_COOKIE = "accio_session"
SESSION_TTL_S = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
#: Paths anyone may read (with authentication on): the login page, static assets, health.
OPEN_PATHS = ("/login", "/static/", "/health")
_SAFE = ("GET", "HEAD", "OPTIONS")
#: State-changing requests on one run: (method, path pattern); group 1 is the run id.
_RUN_WRITES = (
    ("PATCH", re.compile(r"^/api/v1/runs/([^/]+)$")),
    ("POST", re.compile(r"^/api/v1/runs/([^/]+)$")),
    ("DELETE", re.compile(r"^/api/v1/runs/([^/]+)$")),
    ("POST", re.compile(r"^/api/v1/runs/([^/]+)/kill$")),
    ("POST", re.compile(r"^/runs/([^/]+)/(?:kill|delete|edit)$")),
)
_ADMIN_ONLY = re.compile(r"^/api/v1/gc(/.*)?$")


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names the server answers to: its bound address, localhost, 127.0.0.1, ``extra``."""
    names = {bound.strip("[]").lower(), "localhost", "127.0.0.1", "::1"}
    names.update(h.strip().lower() for h in extra if h.strip())
    names.discard("")
    return frozenset(names)


def host_name(value: str) -> str:
    """The host part of a Host header (no port; an IPv6 address without brackets)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def session_key(home: Path) -> bytes:
    """The key signing this home's session cookies, made once (``session.key``, mode 0600):
    shared by every web-server process of the home, and kept across restarts so that signing
    in again is needed only when a session expires."""
    path = home / "session.key"
    with contextlib.suppress(FileNotFoundError):
        key = path.read_bytes()
        if len(key) == 32:
            return key
    tmp = path.with_name(f".session.key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # atomic and exclusive: the first process to make one wins
    except FileExistsError:
        if len(path.read_bytes()) != 32:  # damaged: replace it (its sessions end)
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path.read_bytes()


class Sessions:
    """Signed session cookies (user, session id, expiry) and their CSRF tokens; the session
    itself, and whether it was ended, is a row of the accounts storage."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def start(self, accounts: AccountsApi, user: str, token_id: str) -> str:
        """Store a new session of ``user`` (signed in with token ``token_id``): its cookie."""
        now = time.time()
        rec = SessionRecord(secrets.token_hex(16), user, token_id, now, now + SESSION_TTL_S)
        accounts.start_session(rec)
        return self.issue(user, rec.id, rec.expires)

    def issue(self, user: str, session_id: str, expires: float) -> str:
        data = json.dumps([user, session_id, expires])
        payload = base64.urlsafe_b64encode(data.encode()).decode()
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str) -> tuple[str, str] | None:
        """(user, session id) of a validly signed, unexpired cookie, or None."""
        payload, _, signature = cookie.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            user, session_id, expires = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        return (str(user), str(session_id)) if float(expires) > time.time() else None

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf:" + cookie)


class Guard:
    """ASGI middleware: Host check, then (``accounts`` given) authentication and authorisation."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str] | None,
        accounts: AccountsApi | None,
        client: AccioClient,
        sessions: Sessions,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.accounts = accounts
        self.client = client
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", ())}
        if self.hosts is not None:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.hosts:
                await _reply(send, 400, f"unexpected Host header {host!r}")
                return
        if self.accounts is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(OPEN_PATHS) or path == "/login":
            await self.app(scope, receive, send)
            return
        user, cookie = self._user(headers)
        if user is None:
            if path.startswith("/api/") or method not in _SAFE:
                await _reply(send, 401, "sign in: a valid token is required", bearer=True)
            else:
                await _redirect(send, "/login")
            return
        if cookie is not None and method not in _SAFE:
            receive, sent = await _csrf_sent(scope, receive, headers)
            if not sent or not hmac.compare_digest(sent, self.sessions.csrf(cookie)):
                await _reply(send, 403, "missing or wrong CSRF token")
                return
        denial = self._denial(user, method, path)
        if denial:
            await _reply(send, 403, denial)
            return
        scope["accio.user"] = user
        scope["accio.csrf"] = self.sessions.csrf(cookie) if cookie is not None else ""
        reset = ACTING_USER.set(user.name)
        reset_admin = ACTING_ADMIN.set(user.admin)
        try:
            await self.app(scope, receive, send)
        finally:
            ACTING_ADMIN.reset(reset_admin)
            ACTING_USER.reset(reset)

    def _user(self, headers: dict[bytes, bytes]) -> tuple[UserRecord | None, str | None]:
        """The signed-in user and, when by session, the session cookie."""
        assert self.accounts is not None
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            return self.accounts.authenticate(auth[7:].strip()), None
        jar = SimpleCookie()
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
        morsel = jar.get(SESSION_COOKIE)
        if morsel is None:
            return None, None
        found = self.sessions.read(morsel.value)
        if found is None:
            return None, None
        name, session_id = found
        user = self.accounts.session_user(session_id)  # ended, expired, revoked token: None
        return (user, morsel.value) if user is not None and user.name == name else (None, None)

    def _denial(self, user: UserRecord, method: str, path: str) -> str:
        """Why ``user`` may not do this ("" when allowed)."""
        if user.admin:
            return ""
        if _ADMIN_ONLY.match(path) and method not in _SAFE:
            return "only an admin may collect garbage"
        for verb, pattern in _RUN_WRITES:
            match = pattern.match(path)
            if match and method == verb:
                try:
                    run = self.client.run(match.group(1))
                except AccioError:
                    return ""  # the route answers 404
                if run.owner != user.name:
                    return f"run {run.id} belongs to {run.owner}: only its owner or an admin"
        return ""


async def _csrf_sent(
    scope: Scope, receive: Receive, headers: dict[bytes, bytes]
) -> tuple[Receive, str]:
    """The CSRF token a request carries (header, else form field) and a ``receive`` that
    replays the body read to find it."""
    if CSRF_HEADER in headers:
        return receive, headers[CSRF_HEADER].decode("latin-1")
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if kind != b"application/x-www-form-urlencoded":
        return receive, ""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    form = parse_qs(body.decode("utf-8", "replace"))
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, (form.get(CSRF_FIELD) or [""])[0]


async def _reply(send: Send, status: int, message: str, *, bearer: bool = False) -> None:
    data = json.dumps({"errors": [{"file": None, "path": None, "message": message}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _redirect(send: Send, to: str) -> None:
    headers = [(b"location", to.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def same_origin(headers: Mapping[str, str], hosts: frozenset[str] | None = None) -> bool:
    """Whether the page a request comes from (``Origin``, else ``Referer``) is this server:
    its host is one the server answers to (``hosts``, the Host check's; behind a reverse
    proxy, the public name in ``ACCIO_ALLOWED_HOSTS``), else the request's ``Host``. Ports and
    schemes are not compared (a proxy changes both; cookies ignore ports anyway). True when
    the client sends neither header (not a browser: curl, scripts)."""
    sent = (headers.get("origin") or headers.get("referer") or "").strip()
    if not sent:
        return True
    if sent == "null":  # a sandboxed frame, a data: or file: page
        return False
    origin = host_name(urlsplit(sent).netloc)
    if not origin:
        return False
    if hosts is not None:
        return origin in hosts
    return origin == host_name(headers.get("host", ""))


def csrf_of(request: Any) -> str:
    """The CSRF token of a request's session ("" without authentication)."""
    return str(request.scope.get("accio.csrf", ""))


_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in · Accio</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><h1>Sign in to Accio</h1>{error}
<form method="post" action="/login">
<label>User <input name="user" autocomplete="username" required></label>
<label>Token <input name="token" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>
<p>A token comes from <code>accio token create USER</code> on the server.</p></main></body></html>
"""


def install_login(
    app: FastAPI, accounts: AccountsApi, sessions: Sessions, hosts: frozenset[str] | None = None
) -> None:
    """``GET/POST /login`` (user and token -> session cookie) and ``POST /logout``."""
    from fastapi.responses import HTMLResponse, RedirectResponse, Response

    def page(error: str = "", status: int = 200) -> HTMLResponse:
        shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return HTMLResponse(_LOGIN_PAGE.format(error=shown), status_code=status)

    @app.get("/login", include_in_schema=False)
    def login_page() -> HTMLResponse:
        return page()

    def cookie_flags(request: Request) -> dict[str, Any]:
        secure = request.url.scheme == "https"
        return {"httponly": True, "samesite": "lax", "secure": secure}

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if not same_origin(request.headers, hosts):
            # Login CSRF: another site's page posting its own token would sign this browser
            # in as someone else. Browsers name the page a form comes from (Origin, Referer).
            return page("sign in from this server's own sign-in page", 403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        name = (form.get("user") or [""])[0].strip()
        token = (form.get("token") or [""])[0].strip()
        user = accounts.authenticate(token) if token else None
        token_id = accounts.token_id(token) if user is not None else None
        if user is None or user.name != name or token_id is None:
            return page("unknown user or token", 401)
        response = RedirectResponse("/", status_code=303)
        cookie = sessions.start(accounts, user.name, token_id)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_TTL_S, **cookie_flags(request))
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        """Behind the guard (a live session and its CSRF token): end the session on the server,
        then clear the cookie."""
        found = sessions.read(request.cookies.get(SESSION_COOKIE, ""))
        if found is not None:
            accounts.end_session(found[1])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, **cookie_flags(request))
        return response


__all__ = [
    "Guard",
    "Sessions",
    "allowed_hosts",
    "csrf_of",
    "host_name",
    "install_login",
    "same_origin",
]
