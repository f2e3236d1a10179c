"""The composition root: ``python -m accio.service`` runs the scheduler with the HTTP app, started
in the background or in the foreground through :mod:`accio.engine.daemon`, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.clirun import run_module, wait_until

from accio.client.local import LocalClient
from accio.config import Settings
from accio.engine import daemon


def _settings(home: Path) -> Settings:
    return Settings.from_env({"ACCIO_HOME": str(home), "ACCIO_USER": "u"})


def test_background_scheduler_serves_http_and_stops(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    assert daemon.server_url(settings.home) is None
    assert daemon.start_background(settings, idle_timeout=60, http="127.0.0.1:0")
    try:
        wait_until(lambda: daemon.server_url(settings.home) is not None, 20, "timed out")
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
        wait_until(lambda: daemon.running_pid(home) is not None, 20, "timed out")
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


# --------------------------------------------------------------- the UI is always there
def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {"ACCIO_HOME": str(home), "ACCIO_USER": "u", "ACCIO_PLUGINS": "accio.testing:operators"}
    return {**env, "ACCIO_SERVER": "", **extra}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.mark.parametrize("address", ["notaport", "127.0.0.1:abc", "127.0.0.1:70000", ":8765"])
def test_server_start_refuses_a_malformed_address(address: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_module(["server", "start", "--http", address], _env(home))
    assert done.returncode == 1, done
    assert "bad HTTP address" in done.stderr and "Traceback" not in done.stderr
    assert "started" not in done.stdout
    assert not daemon.is_running(home)


def test_server_start_refuses_a_public_address_with_auth_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_module(["server", "start", "--http", "0.0.0.0:0"], _env(home))
    try:
        assert done.returncode == 1, done
        assert "authentication off" in done.stderr and "ACCIO_AUTH=on" in done.stderr
        assert "Traceback" not in done.stderr
        assert not daemon.is_running(home)
    finally:
        daemon.stop(home)


def test_server_start_fails_when_the_port_is_taken(busy_port: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_module(["server", "start", "--http", f"127.0.0.1:{busy_port}"], _env(home))
    try:
        assert done.returncode == 4, done
        assert "Address already in use" in done.stderr and "Traceback" not in done.stderr
        assert "started" not in done.stdout
        assert not daemon.is_running(home)  # nothing left running
        env = {**_env(home), "ACCIO_AUTH": "on"}  # a name not known to be loopback needs auth
        done = run_module(["server", "start", "--http", "no-such-host.invalid:8000"], env)
        assert done.returncode == 4 and "unknown host" in done.stderr
        assert not daemon.is_running(home)
    finally:
        daemon.stop(home)


def test_an_auto_started_scheduler_serves_the_ui_on_a_free_port(
    busy_port: int, tmp_path: Path
) -> None:
    """The settings' port is taken: the runs matter more, so it serves on another one."""
    home = tmp_path / "home"
    settings = Settings.from_env({**_env(home), "ACCIO_HTTP": f"127.0.0.1:{busy_port}"})
    report = daemon.launch(settings, idle_timeout=60)
    try:
        assert report.running and report.url is not None
        assert report.url != f"http://127.0.0.1:{busy_port}"
        assert "Address already in use" in report.message
        assert daemon.server_url(home) == report.url
        assert httpx.get(f"{report.url}/health", timeout=5).json() == {"status": "ok"}
        done = run_module(["server", "status", "--json"], _env(home))
        assert json.loads(done.stdout)["url"] == report.url
        done = run_module(["server", "start"], _env(home))  # already running: says where
        assert done.returncode == 0 and f"Web UI and REST API at {report.url}" in done.stdout
    finally:
        assert daemon.stop(home)


def test_server_status_through_a_server_describes_that_servers_scheduler(tmp_path: Path) -> None:
    """``ACCIO_SERVER=url`` (or ``--cluster NAME``): the server's scheduler, never this home's."""
    home, laptop = tmp_path / "server-home", tmp_path / "laptop-home"
    settings = Settings.from_env(_env(home, ACCIO_HTTP="127.0.0.1:0"))
    report = daemon.launch(settings, idle_timeout=60)
    try:
        assert report.running and report.url is not None
        deadline = time.time() + 20  # the scheduler publishes its executor within seconds
        while time.time() < deadline:
            done = run_module(
                ["server", "status", "--json"], _env(laptop, ACCIO_SERVER=report.url)
            )
            assert done.returncode == 0, done
            status = json.loads(done.stdout)
            if status["executor"]:
                break
            time.sleep(0.2)
        assert status == {
            "remote": True,
            "cluster": None,
            "url": report.url,
            "running": True,
            "executor": "local",
            "active_runs": {"pending": 0, "running": 0},
            "condition": None,
        }
        done = run_module(["server", "status"], _env(laptop, ACCIO_SERVER=report.url))
        fields = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line)
        assert (fields["Server"].strip(), fields["Executor"].strip()) == (report.url, "local")
        assert "Home" not in done.stdout and str(laptop) not in done.stdout
        local = json.loads(run_module(["server", "status", "--json"], _env(laptop)).stdout)
        assert local["running"] is False and local["home"] == str(laptop)  # the laptop's own
    finally:
        assert daemon.stop(home)
    done = run_module(["server", "status", "--json"], _env(laptop, ACCIO_SERVER=report.url))
    assert done.returncode != 0 and "cannot reach the Accio server" in done.stderr


def test_submit_prints_the_ui_and_ui_opens_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = _env(home, ACCIO_HTTP="127.0.0.1:0", BROWSER=str(browser))
    workflow = tmp_path / "wf.json"
    workflow.write_text(
        json.dumps(
            {
                "id": "one",
                "params": [{"name": "x", "kind": "double", "default_value": 1.0}],
                "graph": [{"op": "Number", "name": "Num", "inputs": {"value": {"param": "x"}}}],
            }
        )
    )
    try:
        assert run_module(["push", str(workflow)], env).returncode == 0
        done = run_module(["submit", "one", "x=2", "--seed=1"], env)
        assert done.returncode == 0, done
        lines = [line for line in done.stdout.splitlines() if line.startswith("Web UI: ")]
        assert len(lines) == 1
        url = daemon.server_url(home)
        assert url is not None and lines[0].startswith(f"Web UI: {url}/runs/")
        assert httpx.get(lines[0].removeprefix("Web UI: "), timeout=10).status_code == 200
        done = run_module(["ui"], env)
        assert done.returncode == 0 and done.stdout.strip() == url
        wait_until(lambda: opened.exists() and opened.read_text().strip() == url, 20, "timed out")
        done = run_module(["ui", "--no-browser"], {**env, "BROWSER": "", "DISPLAY": ""})
        assert done.stdout.strip() == url
        assert opened.read_text().split() == [url]  # printed, not opened again
    finally:
        daemon.stop(home)


def test_a_scheduler_without_http_and_a_stale_url_file(tmp_path: Path) -> None:
    """A server.url left by a killed scheduler is not reported live; start says how to get a UI."""
    home = tmp_path / "home"
    env = _env(home, ACCIO_HTTP="off")
    done = run_module(["server", "start"], env)
    try:
        assert done.returncode == 0 and "Web UI" not in done.stdout
        assert daemon.running_pid(home) is not None
        daemon.url_path(home).write_text("http://127.0.0.1:1\n999999\n")  # a dead pid's file
        assert daemon.server_url(home) is None
        status = run_module(["server", "status"], env)
        assert "not served" in status.stdout and "127.0.0.1:1" not in status.stdout
        done = run_module(["server", "start", "--http", "127.0.0.1:0"], _env(home))
        assert done.returncode == 0 and "already running" in done.stdout
        assert "accio server stop" in done.stdout and "127.0.0.1:1" not in done.stdout
        ui = run_module(["ui"], _env(home))
        assert ui.returncode == 4 and "serves no web UI" in ui.stderr
    finally:
        daemon.stop(home)
    assert daemon.server_url(home) is None


def test_a_killed_scheduler_leaves_no_live_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({**_env(home), "ACCIO_HTTP": "127.0.0.1:0"})
    report = daemon.launch(settings, idle_timeout=60)
    assert report.running and report.url
    pid = daemon.running_pid(home)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not daemon.is_running(home), 20, "timed out")
    assert daemon.url_path(home).exists()  # left behind
    assert daemon.server_url(home) is None
    report = daemon.launch(replace(settings, serve_http=False), idle_timeout=60)
    try:  # a new scheduler, without HTTP: the old file must not name it
        assert report.running and report.url is None
        assert daemon.server_url(home) is None and not daemon.url_path(home).exists()
    finally:
        daemon.stop(home)


def test_a_client_with_explicit_settings_starts_a_scheduler_that_knows_its_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugins are in the Settings only, not in the environment: the auto-started
    scheduler must still find the operators (every node failed 'unknown operator')."""
    monkeypatch.delenv("ACCIO_PLUGINS", raising=False)
    home = tmp_path / "home"
    settings = Settings.from_env(_env(home, ACCIO_HTTP="off"))
    assert daemon.scheduler_env(settings)["ACCIO_PLUGINS"] == "accio.testing:operators"
    workflow = {
        "id": "one",
        "params": [{"name": "x", "kind": "double", "default_value": 1.0}],
        "graph": [{"op": "Add", "name": "Plus", "inputs": {"a": {"param": "x"}, "b": 2.0}}],
    }
    try:
        with LocalClient(settings=settings, autostart=True) as client:
            client.push(workflow)
            sub = client.submit({"workflow": "one", "params": {"x": 3.0}, "seed": 1})
            assert client.wait(sub.run_id, timeout=60).state == "success"
            assert json.loads(client.node(sub.run_id, "Plus").outputs or "{}")["sum"]["value"] == 5
    finally:
        daemon.stop(home)


def test_the_scheduler_serves_with_the_configured_body_limit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env(_env(home, ACCIO_HTTP="127.0.0.1:0", ACCIO_MAX_BODY_MB="1"))
    assert settings.max_body_bytes == 2**20
    report = daemon.launch(settings, idle_timeout=60)
    try:
        assert report.url is not None
        big = httpx.post(f"{report.url}/api/v1/runs", content=b"x" * (2**20 + 1), timeout=30)
        assert big.status_code == 413
        assert big.json()["errors"][0]["message"].endswith("the limit is 1048576 bytes")
        small = httpx.post(f"{report.url}/api/v1/runs", content=b"[]", timeout=30)
        assert small.status_code == 422
    finally:
        daemon.stop(home)


def test_server_start_executor_flag_chooses_where_nodes_run(tmp_path: Path) -> None:
    """``accio server start --executor dask``: the scheduler runs nodes on a Dask cluster (a
    LocalCluster here), whatever ``$ACCIO_EXECUTOR`` says; a running one keeps its own."""
    pytest.importorskip("distributed")
    home = tmp_path / "home"
    env = _env(home, ACCIO_EXECUTOR="local", ACCIO_CPUS="1")
    bad = run_module(["server", "start", "--dask-scheduler", "tcp://127.0.0.1:1"], env)
    assert bad.returncode == 1 and "--executor dask" in bad.stderr
    bad = run_module(["server", "status", "--executor", "dask"], env)
    assert bad.returncode == 1 and "go with 'accio server start'" in bad.stderr
    assert run_module(["server", "start", "--executor", "nope"], env).returncode != 0
    assert not daemon.is_running(home)

    done = run_module(["server", "start", "--executor", "dask", "--no-http"], env)
    try:
        assert done.returncode == 0, done
        deadline = time.time() + 60
        status: dict[str, object] = {}
        while time.time() < deadline and status.get("executor") != "dask":
            status = json.loads(run_module(["server", "status", "--json"], env).stdout)
            time.sleep(0.2)
        assert status["executor"] == "dask"
        # read in this home, even with a (here unreachable) server as the CLI's default
        elsewhere = {**env, "ACCIO_SERVER": "http://127.0.0.1:9"}
        again = run_module(["server", "start", "--executor", "local"], elsewhere)
        assert again.returncode == 0 and "already running" in again.stdout, again
        assert "runs the dask executor, not local" in again.stderr
    finally:
        daemon.stop(home)
