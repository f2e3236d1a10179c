"""The scheduler process seen from outside: its lock, pid, log and URL files, start and stop.

One scheduler process runs per Accio home; its main loop is :func:`accio.service.serve` (the
composition root, which also builds the HTTP app). ``accio submit`` starts it in the background
when it is not running; ``accio server start|stop|status`` manages it explicitly. Two can never
run on one home: the process holds an exclusive ``flock`` on ``$ACCIO_HOME/scheduler.lock`` for
its whole life (the kernel releases it if the process is killed, so a crash never leaves a stale
lock). This module imports nothing above the engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from accio.config import Settings, job_env

#: An auto-started scheduler exits after this many idle seconds; an explicit one runs until stopped.
AUTO_IDLE_TIMEOUT = 600.0


def lock_path(home: Path) -> Path:
    return home / "scheduler.lock"


def pid_path(home: Path) -> Path:
    return home / "scheduler.pid"


def log_path(home: Path) -> Path:
    return home / "scheduler.log"


#: How long a starting scheduler keeps trying for a busy lock. :func:`is_running` probes by
#: taking the lock for a few microseconds, so a scheduler starting at that moment must not
#: conclude that another one runs (and exit); a real scheduler holds the lock for its lifetime.
START_PATIENCE_S = 1.0


#: The module the background scheduler runs as (``python -m SERVICE_MODULE --home HOME``).
SERVICE_MODULE = "accio.service"


@contextlib.contextmanager
def home_lock(home: Path, patience: float = 0.0) -> Iterator[IO[str] | None]:
    """The exclusive scheduler lock of ``home``, or None if it is still busy after ``patience``
    seconds. Whoever holds it is the only one executing runs of that home."""
    home.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path(home), "a+")  # noqa: SIM115 - held for the process lifetime
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                yield None
                return
            time.sleep(0.01)
    try:
        yield handle
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def is_running(home: Path) -> bool:
    """Whether a scheduler holds the lock of this home."""
    if not lock_path(home).exists():
        return False
    with home_lock(home) as handle:
        return handle is None


def running_pid(home: Path) -> int | None:
    if not is_running(home):
        return None
    try:
        return int(pid_path(home).read_text().strip())
    except (OSError, ValueError):
        return None


def service_command(
    home: Path,
    *,
    idle_timeout: float | None = None,
    http: str | None = None,
    detach: bool = False,
    strict_http: bool = False,
) -> list[str]:
    """The command line of the scheduler process of ``home``."""
    args = [sys.executable, "-m", SERVICE_MODULE, "--home", str(home)]
    if detach:
        args.append("--detach")
    if strict_http:
        args.append("--strict-http")
    if idle_timeout is not None:
        args += ["--idle-timeout", str(idle_timeout)]
    if http is not None:
        args += ["--http", http]
    return args


def serve_foreground(
    settings: Settings,
    *,
    idle_timeout: float | None = None,
    http: str | None = None,
    strict_http: bool = False,
) -> int:
    """Run the scheduler process in the foreground (``accio server start --foreground``) and
    return its exit code. SIGINT and SIGTERM sent to this process are passed on, so that it stops
    cleanly either way (Ctrl-C on a terminal reaches both; a second SIGINT does no harm)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    args = service_command(
        settings.home, idle_timeout=idle_timeout, http=http, strict_http=strict_http
    )
    proc = subprocess.Popen(args, env=scheduler_env(settings))

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # stop the scheduler, then wait for it to finish
                forward(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGTERM, previous)


#: How long a start waits for the scheduler's ready report (database opened, web server bound).
READY_TIMEOUT_S = 120.0

#: ``http`` of :func:`start_background` when the settings decide (``$ACCIO_HTTP``, default on).
FROM_SETTINGS = "settings"


@dataclass(frozen=True)
class StartReport:
    """What a background start ended with: a scheduler ``running`` or not, its web ``url`` if
    it serves one, and ``message`` (why it failed, or what it had to change) with the exit
    ``code`` the CLI should give."""

    running: bool
    url: str | None = None
    message: str = ""
    code: int = 0
    already: bool = False


def http_address(settings: Settings, http: str | None) -> str | None:
    """The address a scheduler started with ``http`` serves on (None: none)."""
    if http == FROM_SETTINGS:
        return settings.http if settings.serve_http else None
    return http


def launch(
    settings: Settings,
    *,
    idle_timeout: float | None = AUTO_IDLE_TIMEOUT,
    http: str | None = FROM_SETTINGS,
    strict: bool = False,
) -> StartReport:
    """Start the scheduler in the background unless one runs, and wait until it is ready (its
    lock taken and, if asked, its web server listening).

    ``strict``: a web server that cannot bind ``http`` fails the start (exit code 4, no
    scheduler left running); otherwise the scheduler falls back to a free port, then to no web
    server at all, since the runs matter more than the UI.
    """
    home = settings.home
    if is_running(home):
        return StartReport(True, server_url(home), already=True)
    home.mkdir(parents=True, exist_ok=True)
    address = http_address(settings, http)
    args = service_command(
        home, idle_timeout=idle_timeout, http=address, detach=True, strict_http=strict
    )
    with open(log_path(home), "ab") as log:
        # The launcher forks the scheduler, waits for its ready line and exits: reaped here.
        try:
            done = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env=scheduler_env(settings),
                check=False,
                timeout=READY_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            why = (
                f"the scheduler was not ready after {READY_TIMEOUT_S:.0f} s: see {log_path(home)}"
            )
            return StartReport(
                is_running(home), server_url(home), why, 0 if is_running(home) else 4
            )
    report = _read_report(done.stdout)
    if report is None:  # the launcher died before it could report (an import error)
        running = is_running(home)
        why = f"the scheduler exited at start (exit {done.returncode}): see {log_path(home)}"
        return StartReport(running, server_url(home), "" if running else why, 0 if running else 5)
    if report.already or report.running:
        return StartReport(
            is_running(home), report.url, report.message, report.code, report.already
        )
    return report


def scheduler_env(settings: Settings) -> dict[str, str]:
    """The environment of a scheduler started for ``settings``: the caller's, overridden by
    the settings (they are the authority: a client built from explicit settings must not start
    a scheduler that cannot find its operators, or that ignores its limits)."""
    env = {**os.environ, "ACCIO_HOME": str(settings.home)}
    env.update(
        ACCIO_DATABASE_URL=settings.database_url,
        ACCIO_USER=settings.user,
        ACCIO_CPUS=str(settings.cpus),
        ACCIO_MEMORY_MB=str(settings.memory_mb),
        ACCIO_EXECUTOR=settings.executor,
        ACCIO_MAX_CHILDREN=str(settings.max_children),
        ACCIO_MAX_BODY_MB=str(max(1, settings.max_body_bytes >> 20)),
    )
    env.update(job_env(settings))  # batch executors: jobs' size, queue, walltime
    if settings.dask_address:
        env["ACCIO_DASK_SCHEDULER"] = settings.dask_address
    if settings.plugins:
        env["ACCIO_PLUGINS"] = settings.plugins
    # The artifact store is the client's, exactly: a scheduler writing elsewhere splits them.
    for name, value in (
        ("ACCIO_ARTIFACTS_URL", settings.artifacts_url),
        ("ACCIO_S3_ENDPOINT", settings.s3_endpoint),
    ):
        env.pop(name, None)
        if value:
            env[name] = value
    return env


def _read_report(stdout: bytes) -> StartReport | None:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "state" in data:
            return StartReport(
                running=data["state"] in ("ready", "busy"),
                url=data.get("url") or None,
                message=str(data.get("message") or ""),
                code=int(data.get("code") or 0),
                already=data["state"] == "busy",
            )
    return None


def start_background(
    settings: Settings,
    *,
    idle_timeout: float | None = AUTO_IDLE_TIMEOUT,
    http: str | None = FROM_SETTINGS,
) -> bool:
    """Start the scheduler in the background unless one runs; True if one runs afterwards. It
    serves the web UI too unless the settings say not to (see :func:`launch`)."""
    return launch(settings, idle_timeout=idle_timeout, http=http).running


def stop(home: Path, timeout: float = 15.0) -> bool:
    """Ask the scheduler to stop (SIGTERM) and wait; True if it was running."""
    pid = running_pid(home)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and is_running(home):
        time.sleep(0.05)
    if is_running(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return True


def url_path(home: Path) -> Path:
    """Where a scheduler serving HTTP writes its URL and pid (removed when it stops)."""
    return home / "server.url"


def write_url(home: Path, url: str) -> None:
    """Record the URL served by this process, with its pid, so that a file left behind by a
    killed scheduler is never mistaken for a live server."""
    tmp = url_path(home).with_suffix(".tmp")
    tmp.write_text(f"{url}\n{os.getpid()}\n")
    os.replace(tmp, url_path(home))


def server_url(home: Path) -> str | None:
    """The URL of the web UI and REST API of the running scheduler, if it serves one: the file
    must name the pid of the scheduler holding the lock (a killed one leaves a stale file)."""
    pid = running_pid(home)
    if pid is None:
        return None
    try:
        url, _, owner = url_path(home).read_text().strip().partition("\n")
    except OSError:
        return None
    if not url.strip() or owner.strip() != str(pid):
        return None
    return url.strip()
