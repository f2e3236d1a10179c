"""The composition root: ``python -m accio.service`` runs the scheduler with the HTTP app, started
in the background or in the foreground through :mod:`accio.engine.daemon`, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accio.client.local import LocalClient
from accio.config import Settings
from accio.engine import daemon


def _settings(home: Path) -> Settings:
    return Settings.from_env({"ACCIO_HOME": str(home), "ACCIO_USER": "u"})


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_background_scheduler_serves_http_and_stops(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    assert daemon.server_url(settings.home) is None
    assert daemon.start_background(settings, idle_timeout=60, http="127.0.0.1:0")
    try:
        _wait_for(lambda: daemon.server_url(settings.home) is not None)
        url = daemon.server_url(settings.home)
        assert url is not None
        assert httpx.get(f"{url}/api/v1/runs", timeout=5).json()["total"] == 0
        with LocalClient(settings=settings, autostart=False) as client:
            status = client.scheduler_status()
            assert status.running and status.url == url and not status.remote
            assert status.pid == daemon.running_pid(settings.home)
            with daemon.home_lock(settings.home) as handle:  # the scheduler holds it
                assert handle is None
    finally:
        assert daemon.stop(settings.home)
    assert not daemon.is_running(settings.home)
    assert daemon.server_url(settings.home) is None
    assert not daemon.url_path(settings.home).exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_foreground_scheduler_passes_signals_on(signum: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = (
        "import sys\n"
        "from accio.config import Settings\n"
        "from accio.engine import daemon\n"
        f"sys.exit(daemon.serve_foreground(Settings.from_env({{'ACCIO_HOME': {str(home)!r}}})))\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    try:
        _wait_for(lambda: daemon.running_pid(home) is not None)
        assert daemon.running_pid(home) != launcher.pid  # the scheduler is its child
        launcher.send_signal(signum)  # to the launcher alone, not its process group
        assert launcher.wait(timeout=20) == 0
        assert not daemon.is_running(home)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        daemon.stop(home)


def test_service_main_rejects_a_second_scheduler(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with daemon.home_lock(home) as handle:
        assert handle is not None
        done = subprocess.run(
            daemon.service_command(home, idle_timeout=1),
            env={**os.environ, "ACCIO_HOME": str(home)},
            timeout=60,
            check=False,
        )
    assert done.returncode == 0  # it saw the lock taken and left at once
    assert not daemon.pid_path(home).exists()


@pytest.mark.parametrize("flag", [None, "--detach"])
def test_service_command_line(flag: str | None, tmp_path: Path) -> None:
    args = daemon.service_command(
        tmp_path, idle_timeout=5, http="127.0.0.1:0", detach=flag is not None
    )
    assert args[:3] == [sys.executable, "-m", "accio.service"]
    assert ("--detach" in args) is (flag is not None)
    assert args[args.index("--http") + 1] == "127.0.0.1:0"
