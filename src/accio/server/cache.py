"""Pages and API reads kept while the database has not changed (a per-process response cache).

A team watching a sweep asks for the same few pages over and over (the runs list, a search,
a run's page), and most of those requests find the database exactly as the previous one did.
:class:`ResponseCache` answers a GET from memory when the storage's *change token* (SQLite's
``data_version``, PostgreSQL's snapshot: they move with every commit of any process) is the one
the response was computed under, the scheduler's condition (the banner every page shows) is the
same, and the response is younger than ``max_age`` seconds (relative times on pages). Nothing is
ever served stale with respect to a committed write, so a user always reads their own writes.

It sits inside the authentication guard and keys on everything a response depends on besides
the database (path, query, the credentials and session cookie, Host, Accept and the htmx
headers), so one user's page is never served to another. Only ``200`` responses without
``Set-Cookie`` are kept. Where the storage has no change token, nothing is cached.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths whose GET responses may be kept: the runs list and search (HTML and REST), a run's
#: page and description, workflows. Not the live panels, logs, agents or artifacts.
CACHEABLE = re.compile(r"^(/|/runs/[0-9a-f]+|/api/v1/runs(/[0-9a-f]+)?|/api/v1/workflows)$")
#: Request headers a response may depend on (besides path and query).
KEY_HEADERS = (b"authorization", b"cookie", b"host", b"accept", b"hx-request", b"hx-target")


@dataclass(frozen=True)
class _Entry:
    token: tuple[object, object]
    stored: float
    start: Message
    body: bytes


class ResponseCache:
    """ASGI middleware; ``change_token`` returns the storage's token (None: do not cache), and
    ``context`` what else pages show that is not in the database (the scheduler's condition):
    a response is reused only while both are unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        change_token: Callable[[], Hashable | None],
        context: Callable[[], object] = lambda: None,
        max_age: float = 1.0,
        max_entries: int = 512,
        max_body: int = 512 * 1024,
    ) -> None:
        self.app = app
        self.change_token = change_token
        self.context = context
        self.max_age = max_age
        self.max_entries = max_entries
        self.max_body = max_body
        # Touched only by coroutines of the one event loop: no lock.
        self.entries: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
        #: Pages being computed, by key: identical requests arriving meanwhile wait for that
        #: answer instead of computing it again (after a commit, every client asks at once).
        self.inflight: dict[tuple[object, ...], tuple[object, asyncio.Future[_Entry | None]]] = {}

    def _key(self, scope: Scope) -> tuple[object, ...]:
        headers = tuple(
            (name, value) for name, value in scope.get("headers", ()) if name in KEY_HEADERS
        )
        return (scope["path"], scope.get("query_string", b""), headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not CACHEABLE.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        version = self.change_token()
        if version is None:
            await self.app(scope, receive, send)
            return
        token = (version, self.context())
        key = self._key(scope)
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry.token == token and now - entry.stored < self.max_age:
            self.entries.move_to_end(key)
        else:
            entry = None
            flight = self.inflight.get(key)
            if flight is not None and flight[0] == token:  # the same page is being computed
                entry = await asyncio.shield(flight[1])
        if entry is not None:
            await send(entry.start)
            await send({"type": "http.response.body", "body": entry.body})
            return
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self.inflight[key] = (token, future)
        try:
            entry = await self._compute(scope, receive, send, key, token, now)
        finally:
            if self.inflight.get(key, (None, None))[1] is future:
                del self.inflight[key]
            if not future.done():
                future.set_result(entry)  # None when the app raised: waiters compute it

    async def _compute(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: tuple[object, ...],
        token: tuple[object, object],
        now: float,
    ) -> _Entry | None:
        """Answer through the app; the response, if it may be kept."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def recording(message: Message) -> None:
            nonlocal start, keep, size
            if message["type"] == "http.response.start":
                start = message
                headers = message.get("headers", ())
                if message["status"] != 200 or any(n == b"set-cookie" for n, _ in headers):
                    keep = False
            elif message["type"] == "http.response.body" and keep:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > self.max_body:
                    keep = False
                    chunks.clear()
            await send(message)

        await self.app(scope, receive, recording)
        if not keep or start is None:
            return None
        entry = _Entry(token, now, start, b"".join(chunks))
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return entry
