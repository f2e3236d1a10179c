"""``agents()`` of the client contract, once for both clients (the local one reading what the
home's scheduler published, the remote one through ``GET /api/v1/agents`` of the real app over
loopback HTTP), and the web UI's Agents page; with authentication on, any signed-in user may
read the list."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from accio.client.agents import AgentsOut
from accio.client.contract import AccioClient
from accio.client.local import LocalClient
from accio.client.remote import RemoteClient
from accio.config import Settings
from accio.engine import daemon
from accio.engine.agents import AgentBoard
from accio.executors.local import LocalExecutor
from accio.server.app import create_app
from accio.server.auth import allowed_hosts
from accio.server.http import ServerHandle, serve_in_thread
from accio.storage.accounts import UserRecord, new_token

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient


@dataclass
class Home:
    local: LocalClient
    remote: RemoteClient
    server: ServerHandle
    path: Path


def _home(root: Path, *, scheduler: bool) -> Iterator[Home]:
    settings = Settings.from_env(
        {"ACCIO_HOME": str(root / "home"), "ACCIO_PLUGINS": "accio.testing:operators"}
    )
    local = LocalClient(settings=settings, autostart=False)
    server = serve_in_thread(create_app(client=local), "127.0.0.1", 0)
    remote = RemoteClient(server.url, timeout=10)
    try:
        if not scheduler:
            yield Home(local, remote, server, settings.home)
            return
        # this process plays the scheduler: the home's lock, its pid, and its publication
        with daemon.home_lock(settings.home) as handle:
            assert handle is not None
            daemon.pid_path(settings.home).write_text(str(os.getpid()))
            executor = LocalExecutor(str(root / "artifacts"), slots=3)  # not started: idle
            board = AgentBoard(settings.home, executor)
            board.tick()
            yield Home(local, remote, server, settings.home)
            board.close()
    finally:
        remote.close()
        server.stop()
        local.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    yield from _home(tmp_path_factory.mktemp("agents"), scheduler=True)


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, home: Home) -> AccioClient:
    chosen: AccioClient = home.local if request.param == "local" else home.remote
    return chosen


def test_both_clients_list_the_published_agents(client: AccioClient, home: Home) -> None:
    listing = client.agents()
    assert isinstance(listing, AgentsOut)
    assert listing == home.local.agents()  # the same shape from both sides
    assert (listing.scheduler, listing.executor) == (True, "local")
    (agent,) = listing.agents
    assert (agent.name, agent.host, agent.kind) == (socket.gethostname(),) * 2 + ("local",)
    assert (agent.cpus, agent.running, agent.tasks, agent.state) == (3, 0, [], "idle")
    assert agent.memory_bytes is not None and agent.memory_bytes > 2**20


def test_the_rest_answer_and_the_ui_page(home: Home) -> None:
    body = httpx.get(f"{home.server.url}/api/v1/agents", timeout=10).json()
    assert body["scheduler"] is True and body["executor"] == "local"
    assert body["agents"][0]["cpus"] == 3 and body["agents"][0]["job_id"] is None
    page = httpx.get(f"{home.server.url}/agents", timeout=10)
    assert page.status_code == 200
    html = page.text
    assert '<a href="/agents" class="active">Agents</a>' in html  # in the nav, current
    assert f"<td>{socket.gethostname()}" in html and "<td>0 / 3</td>" in html
    assert "state-idle" in html and "No scheduler runs" not in html
    front = httpx.get(f"{home.server.url}/", timeout=10).text
    assert 'href="/agents"' in front  # every page links to it


def test_without_a_scheduler_both_clients_and_the_page_say_so(tmp_path: Path) -> None:
    for home in _home(tmp_path, scheduler=False):
        for client in (home.local, home.remote):
            assert client.agents() == AgentsOut(scheduler=False)
        page = httpx.get(f"{home.server.url}/agents", timeout=10).text
        assert "No scheduler runs for this home" in page


def test_any_signed_in_user_reads_the_agents_when_auth_is_on(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ACCIO_HOME": str(tmp_path / "home"),
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_AUTH": "on",
        }
    )
    local = LocalClient(settings=settings, autostart=False)
    try:
        local.storage.add_user(UserRecord("alice", False, 0.0))
        token, record = new_token("alice")
        local.storage.add_token(record)
        app = create_app(settings, local, allowed_hosts=allowed_hosts("127.0.0.1"))
        http = TestClient(app, base_url="http://127.0.0.1")
        assert http.get("/api/v1/agents").status_code == 401
        signed_in = http.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
        assert signed_in.status_code == 200 and signed_in.json()["scheduler"] is False
    finally:
        local.close()
