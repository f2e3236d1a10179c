"""The scheduler process when starting goes wrong: a clear message and exit code, never a
traceback on the user's terminal, and no scheduler left half-started.

* a database that cannot be opened: ``server start`` exits 4 naming the cause; the log
  keeps the details;
* ``server start --foreground`` on a taken port exits 4;
* two ``server start`` at once: one scheduler, both exit 0;
* a malformed ``$ACCIO_HTTP``: ``server start`` refuses it (exit 1), while an auto-start (the
  runs matter more than the UI) serves on a free port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accio.config import Settings
from accio.engine import daemon

TRACEBACK = "Traceback (most recent call last)"


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ACCIO_HOME": str(home),
        "ACCIO_USER": "u",
        "ACCIO_SERVER": "",
        "ACCIO_PLUGINS": "accio.testing:operators",
        **extra,
    }


def _accio(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accio.cli.main", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    yield path
    daemon.stop(path)


def test_a_database_that_cannot_open_fails_the_start_cleanly(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = _env(home, ACCIO_DATABASE_URL=f"sqlite:///{blocker}/sub/accio.db")
    done = _accio(["server", "start", "--http", "127.0.0.1:0"], env)
    assert done.returncode == 4, done
    assert "the scheduler did not start" in done.stderr and "Not a directory" in done.stderr
    assert TRACEBACK not in done.stderr + done.stdout
    assert "started" not in done.stdout
    assert not daemon.is_running(home)
    assert "Not a directory" in daemon.log_path(home).read_text()  # for whoever debugs it


def test_foreground_on_a_taken_port_exits_4(home: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        port = sock.getsockname()[1]
        done = _accio(
            ["server", "start", "--foreground", "--http", f"127.0.0.1:{port}"], _env(home)
        )
    finally:
        sock.close()
    assert done.returncode == 4, done
    assert "Address already in use" in done.stderr
    assert TRACEBACK not in done.stderr
    assert not daemon.is_running(home)


def test_two_starts_at_once_leave_one_scheduler(home: Path) -> None:
    results: list[subprocess.CompletedProcess[str]] = []

    def start() -> None:
        results.append(_accio(["server", "start", "--http", "127.0.0.1:0"], _env(home)))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [r.returncode for r in results] == [0, 0], results
    said = sorted("started" if "Scheduler started" in r.stdout else r.stdout for r in results)
    assert said[0].startswith("Scheduler already running") or said == ["started", "started"]
    assert sum("Scheduler started" in r.stdout for r in results) == 1, results
    pid = daemon.running_pid(home)
    assert pid is not None and daemon.server_url(home) is not None


def test_a_malformed_accio_http(home: Path) -> None:
    env = _env(home, ACCIO_HTTP="localhost")
    done = _accio(["server", "start"], env)
    assert done.returncode == 1 and "bad HTTP address 'localhost'" in done.stderr
    assert not daemon.is_running(home)
    settings = Settings.from_env(env)
    report = daemon.launch(settings, idle_timeout=60)  # what accio submit does
    assert report.running and report.url is not None
    assert "bad HTTP address" in report.message
    assert httpx.get(f"{report.url}/health", timeout=10).status_code == 200
