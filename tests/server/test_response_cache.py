"""The per-process response cache: reused only while the database and the scheduler's condition
are unchanged, never across users, never for errors or cookies; identical requests in flight
are computed once.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from accio.client.local import LocalClient
from accio.config import Settings
from accio.server.app import create_app
from accio.server.auth import allowed_hosts
from accio.server.cache import ResponseCache

WORKFLOW: dict[str, Any] = {
    "id": "one",
    "params": [{"name": "a", "kind": "double"}],
    "graph": [{"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}}],
}


class Counting:
    """An ASGI app answering ``calls`` (and the auth header), slowly if asked."""

    def __init__(self, status: int = 200, cookie: bool = False, delay: float = 0.0) -> None:
        self.calls = 0
        self.status = status
        self.cookie = cookie
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        auth = dict(scope["headers"]).get(b"authorization", b"")
        headers = [(b"content-type", b"text/plain")]
        if self.cookie:
            headers.append((b"set-cookie", b"s=1"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"%d %s" % (self.calls, auth)})


def _get(app: Any, path: str = "/api/v1/runs", headers: dict[str, str] | None = None) -> str:
    return TestClient(app).get(path, headers=headers or {}).text  # no lifespan: plain ASGI


def test_reused_until_the_database_or_the_condition_changes() -> None:
    version, condition = [1], ["ok"]
    inner = Counting()
    app = ResponseCache(inner, change_token=lambda: version[0], context=lambda: condition[0])
    assert _get(app) == "1 " and _get(app) == "1 "  # the second one from memory
    version[0] = 2  # a commit, by any process
    assert _get(app) == "2 "
    condition[0] = "storage full"  # the banner changes: so does the page
    assert _get(app) == "3 "
    assert _get(app, "/api/v1/runs/abc/nodes") == "4 "  # not a cacheable path
    assert _get(app, "/api/v1/runs/abc/nodes") == "5 "


def test_never_shared_between_users_nor_kept_when_it_should_not_be() -> None:
    inner = Counting()
    app = ResponseCache(inner, change_token=lambda: 1)
    alice = {"Authorization": "Bearer a"}
    bob = {"Authorization": "Bearer b"}
    assert _get(app, headers=alice) == "1 Bearer a"
    assert _get(app, headers=bob) == "2 Bearer b"
    assert _get(app, headers=alice) == "1 Bearer a"
    for kept_not in (Counting(status=404), Counting(cookie=True)):
        app = ResponseCache(kept_not, change_token=lambda: 1)
        assert _get(app) == "1 " and _get(app) == "2 "
    none = Counting()
    app = ResponseCache(none, change_token=lambda: None)  # no change token (PostgreSQL)
    assert _get(app) == "1 " and _get(app) == "2 "


def test_identical_requests_in_flight_are_computed_once() -> None:
    inner = Counting(delay=0.2)
    app = ResponseCache(inner, change_token=lambda: 1)
    bodies: list[bytes] = []

    async def one() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": b"",
            "headers": [],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message["body"])

        await app(scope, receive, send)

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(20)))

    asyncio.run(many())
    assert inner.calls == 1 and bodies == [b"1 "] * 20


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[TestClient, LocalClient, Settings]]:
    settings = Settings.from_env(
        {"ACCIO_HOME": str(tmp_path / "home"), "ACCIO_PLUGINS": "accio.testing:operators"}
    )
    client = LocalClient(settings=settings, autostart=False)
    client.push(WORKFLOW)
    app = create_app(settings, client, allowed_hosts=allowed_hosts("testserver"))
    with TestClient(app) as http:
        yield http, client, settings
    client.close()


def test_a_write_by_another_process_is_seen_at_once(
    home: tuple[TestClient, LocalClient, Settings],
) -> None:
    http, client, settings = home
    run = client.submit({"workflow": "one", "params": {"a": 1}}, name="first name")
    assert "first name" in http.get(f"/api/v1/runs/{run.run_id}").text
    assert "first name" in http.get(f"/runs/{run.run_id}").text
    other = LocalClient(settings=settings, autostart=False)  # its own connections
    try:
        other.edit(run.run_id, name="second name")
    finally:
        other.close()
    assert "second name" in http.get(f"/api/v1/runs/{run.run_id}").text
    assert "second name" in http.get(f"/runs/{run.run_id}").text
    assert "second name" in http.get("/").text
