"""The web server runs in processes of its own, beside the scheduler (``ACCIO_HTTP_WORKERS``).

Through a real ``accio server start``: requests are answered while the scheduler process is
stopped (SIGSTOP), so their latency cannot depend on its load; a web process that dies is
replaced; a SIGKILLed scheduler leaves no web process holding its port; and with accounts on,
a session cookie works in every web process and across a restart.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.clirun import run_module, wait_until

from accio.client.local import LocalClient
from accio.config import Settings
from accio.engine import daemon
from accio.storage.accounts import UserRecord, new_token

pytestmark = pytest.mark.integration


def _web_processes(scheduler: int) -> list[psutil.Process]:
    """The live web-server processes of a scheduler."""
    found = []
    for child in psutil.Process(scheduler).children():
        try:
            if "accio.server.process" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # exited (a zombie until reaped)
            continue
    return found


class Server:
    def __init__(self, home: Path, **extra: str) -> None:
        self.home = home
        self.env = {
            "ACCIO_HOME": str(home),
            "ACCIO_USER": "u",
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_SERVER": "",
            **extra,
        }

    def start(self, address: str = "127.0.0.1:0") -> str:
        done = run_module(["server", "start", "--http", address], self.env)
        assert done.returncode == 0, done.stderr
        url = daemon.server_url(self.home)
        assert url
        return url

    @property
    def pid(self) -> int:
        pid = daemon.running_pid(self.home)
        assert pid is not None
        return pid

    def stop(self) -> None:
        run_module(["server", "stop"], self.env)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "home", ACCIO_HTTP_WORKERS="2")
    yield s
    s.stop()


def test_requests_are_answered_while_the_scheduler_is_stopped(server: Server) -> None:
    url = server.start()
    scheduler = server.pid
    web = _web_processes(scheduler)
    assert len(web) == 2
    os.kill(scheduler, signal.SIGSTOP)
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            for path in ("/api/v1/runs", "/", "/api/v1/workflows", "/health"):
                started = time.monotonic()
                assert http.get(path).status_code == 200, path
                assert time.monotonic() - started < 2.0
    finally:
        os.kill(scheduler, signal.SIGCONT)


def test_a_dead_web_process_is_replaced(server: Server) -> None:
    url = server.start()
    killed = _web_processes(server.pid)[0]
    killed.kill()

    def replaced() -> bool:
        pids = {p.pid for p in _web_processes(server.pid)}
        return len(pids) == 2 and killed.pid not in pids

    wait_until(replaced, 15, "timed out")
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(10):
            assert http.get("/api/v1/runs").status_code == 200


def test_a_killed_scheduler_leaves_no_web_process_and_frees_its_port(server: Server) -> None:
    url = server.start()
    port = url.rsplit(":", 1)[1]
    web = _web_processes(server.pid)
    os.kill(server.pid, signal.SIGKILL)
    wait_until(
        lambda: not any(p.is_running() and p.status() != "zombie" for p in web), 5, "timed out"
    )
    again = server.start(f"127.0.0.1:{port}")  # strict: fails if an orphan holds the port
    assert again == url
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_a_session_works_in_every_web_process_and_across_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({"ACCIO_HOME": str(home)})
    home.mkdir()
    client = LocalClient(settings=settings, autostart=False)
    client.storage.add_user(UserRecord("alice", False, 0.0))
    token, record = new_token("alice")
    client.storage.add_token(record)
    client.close()
    server = Server(home, ACCIO_HTTP_WORKERS="3", ACCIO_AUTH="on")
    url = server.start()
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            signed = http.post("/login", data={"user": "alice", "token": token})
            assert signed.status_code in (200, 303), signed.text
            cookies = dict(http.cookies)
        assert cookies, "no session cookie"
        assert (home / "session.key").stat().st_mode & 0o077 == 0
        for _ in range(30):  # each a new connection: they land on all three processes
            with httpx.Client(base_url=url, timeout=10, cookies=cookies) as http:
                page = http.get("/", follow_redirects=False)
                assert page.status_code == 200, page.headers.get("location")
        server.stop()
        assert server.start(url.removeprefix("http://")) == url
        with httpx.Client(base_url=url, timeout=10, cookies=cookies) as http:
            assert http.get("/", follow_redirects=False).status_code == 200
            assert http.get("/api/v1/runs").status_code == 200
            anonymous = httpx.get(f"{url}/api/v1/runs", timeout=10)
            assert anonymous.status_code == 401
    finally:
        server.stop()
