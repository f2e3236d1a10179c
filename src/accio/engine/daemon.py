"""The scheduler process: one per Accio home, guarded by a lock, started on demand.

``accio submit`` starts it in the background when it is not running; ``accio server
start|stop|status`` manages it explicitly. Two can never run on one home: the process holds an
exclusive ``flock`` on ``$ACCIO_HOME/scheduler.lock`` for its whole life (the kernel releases it
if the process is killed, so a crash never leaves a stale lock).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from accio.config import Settings

log = logging.getLogger("accio.daemon")

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


@contextlib.contextmanager
def _try_lock(home: Path, patience: float = 0.0) -> Iterator[IO[str] | None]:
    """The exclusive lock of ``home``, or None if it is still busy after ``patience`` seconds."""
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
    with _try_lock(home) as handle:
        return handle is None


def running_pid(home: Path) -> int | None:
    if not is_running(home):
        return None
    try:
        return int(pid_path(home).read_text().strip())
    except (OSError, ValueError):
        return None


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
    args = [sys.executable, "-m", "accio.engine.daemon", "--home", str(home), "--detach"]
    if idle_timeout is not None:
        args += ["--idle-timeout", str(idle_timeout)]
    if http is not None:
        args += ["--http", http]
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


def _serve_http(settings: Settings, address: str) -> Any:
    """The REST API and web UI, served from a thread of the scheduler process."""
    from accio.client.client import Client
    from accio.server.app import create_app
    from accio.server.http import serve_in_thread

    host, _, port = address.rpartition(":")
    client = Client(settings=settings, autostart=False)
    handle = serve_in_thread(create_app(settings, client), host or "127.0.0.1", int(port or 8765))
    url_path(settings.home).write_text(handle.url)
    log.info("serving the web UI and REST API at %s", handle.url)
    return handle


def url_path(home: Path) -> Path:
    return home / "server.url"


def serve(
    settings: Settings, *, idle_timeout: float | None = None, http: str | None = None
) -> int:
    """Run the scheduler loop until SIGTERM (or idle for ``idle_timeout`` seconds); with
    ``http`` (``host:port``) also serve the REST API and web UI from this process."""
    from accio.engine.runtime import open_runtime

    with _try_lock(settings.home, patience=START_PATIENCE_S) as handle:
        if handle is None:
            log.info("a scheduler already runs for %s", settings.home)
            return 0
        pid_path(settings.home).write_text(str(os.getpid()))
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        from accio.executors.local import LocalExecutor

        # Workers (and their fork server's imports) start while this process loads the rest.
        executor = LocalExecutor(str(settings.artifacts_dir), slots=settings.cpus)
        executor.start()
        runtime = open_runtime(settings)
        scheduler = runtime.scheduler(control=True, executor=executor)
        server = None
        try:
            if http is not None:
                try:
                    server = _serve_http(settings, http)
                except Exception:  # the scheduler runs on without its web server
                    log.exception("cannot serve HTTP at %s", http)
            sys.setswitchinterval(0.0005)  # see scheduler.fast_thread_switching
            scheduler.load_unfinished()
            idle_since = time.time()
            while not stopping:
                scheduler.step(0.05)
                if scheduler.busy:
                    idle_since = time.time()
                elif idle_timeout is not None and time.time() - idle_since > idle_timeout:
                    break
        finally:
            if server is not None:
                server.stop()
                with contextlib.suppress(OSError):
                    url_path(settings.home).unlink()
            scheduler.close()
            scheduler.executor.stop()
            runtime.close()
            with contextlib.suppress(OSError):
                pid_path(settings.home).unlink()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m accio.engine.daemon")
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    parser.add_argument("--http", default=None, help="also serve the web UI at HOST:PORT")
    args = parser.parse_args()
    if args.detach and os.fork() > 0:
        os._exit(0)  # the launcher returns; the child is the scheduler
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = Settings.from_env({**os.environ, "ACCIO_HOME": args.home})
    sys.exit(serve(settings, idle_timeout=args.idle_timeout, http=args.http))


if __name__ == "__main__":
    main()
