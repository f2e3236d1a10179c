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
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from accio.config import Settings

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
) -> list[str]:
    """The command line of the scheduler process of ``home``."""
    args = [sys.executable, "-m", SERVICE_MODULE, "--home", str(home)]
    if detach:
        args.append("--detach")
    if idle_timeout is not None:
        args += ["--idle-timeout", str(idle_timeout)]
    if http is not None:
        args += ["--http", http]
    return args


def serve_foreground(
    settings: Settings, *, idle_timeout: float | None = None, http: str | None = None
) -> int:
    """Run the scheduler process in the foreground (``accio server start --foreground``) and
    return its exit code. SIGINT and SIGTERM sent to this process are passed on, so that it stops
    cleanly either way (Ctrl-C on a terminal reaches both; a second SIGINT does no harm)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    args = service_command(settings.home, idle_timeout=idle_timeout, http=http)
    proc = subprocess.Popen(args, env={**os.environ, "ACCIO_HOME": str(settings.home)})

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


def start_background(
    settings: Settings,
    *,
    idle_timeout: float | None = AUTO_IDLE_TIMEOUT,
    http: str | None = None,
) -> bool:
    """Start the scheduler in the background unless one runs; True if one runs afterwards."""
    home = settings.home
    if is_running(home):
        return True
    home.mkdir(parents=True, exist_ok=True)
    args = service_command(home, idle_timeout=idle_timeout, http=http, detach=True)
    with open(log_path(home), "ab") as out:
        # The launcher forks the scheduler and exits at once: reaped here, nothing left behind.
        subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            env={**os.environ, "ACCIO_HOME": str(home)},
            check=False,
        )
    deadline = time.time() + 10
    while time.time() < deadline:
        if is_running(home):
            return True
        time.sleep(0.02)
    return is_running(home)


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
    """Where a scheduler serving HTTP writes its URL (removed when it stops)."""
    return home / "server.url"


def server_url(home: Path) -> str | None:
    """The URL of the web UI and REST API of the running scheduler, if it serves one."""
    if not is_running(home):
        return None
    try:
        return url_path(home).read_text().strip() or None
    except OSError:
        return None
