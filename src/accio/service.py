"""The composition root: the scheduler process of one Accio home.

It is the only module that builds the whole stack: the runtime (storage, artifacts, registry),
the executor, the scheduler loop, and, on request, the REST API and web UI over a
:class:`~accio.client.local.LocalClient` served from a thread of the same process. Lower layers
never build higher ones; :mod:`accio.engine.daemon` only locates, starts and stops this process.

::

    python -m accio.service --home ~/.accio [--idle-timeout 600] [--http 127.0.0.1:8765]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from accio.config import Settings
from accio.engine import daemon

if TYPE_CHECKING:
    from accio.server.http import ServerHandle

log = logging.getLogger("accio.service")


def serve_http(settings: Settings, address: str) -> ServerHandle:
    """The REST API and web UI over this home, served from a thread of the calling process."""
    from accio.client.local import LocalClient
    from accio.server.app import create_app
    from accio.server.http import serve_in_thread

    host, _, port = address.rpartition(":")
    client = LocalClient(settings=settings, autostart=False)
    app = create_app(client=client, owns_client=True)
    handle = serve_in_thread(app, host or "127.0.0.1", int(port or 8765))
    daemon.url_path(settings.home).write_text(handle.url)
    log.info("serving the web UI and REST API at %s", handle.url)
    return handle


def serve(
    settings: Settings, *, idle_timeout: float | None = None, http: str | None = None
) -> int:
    """Run the scheduler loop until SIGTERM (or idle for ``idle_timeout`` seconds); with
    ``http`` (``host:port``) also serve the REST API and web UI from this process.

    Returns at once (0) when another scheduler holds the home's lock.
    """
    from accio.engine.runtime import open_runtime
    from accio.executors.base import Executor
    from accio.executors.local import LocalExecutor

    with daemon.home_lock(settings.home, patience=daemon.START_PATIENCE_S) as handle:
        if handle is None:
            log.info("a scheduler already runs for %s", settings.home)
            return 0
        daemon.pid_path(settings.home).write_text(str(os.getpid()))
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        # Workers (and their fork server's imports) start while this process loads the rest.
        executor: Executor = LocalExecutor(str(settings.artifacts_dir), slots=settings.cpus)
        if settings.executor == "local":
            executor.start()
        runtime = open_runtime(settings)
        if settings.executor != "local":  # $ACCIO_EXECUTOR: dask (or inline, for debugging)
            executor = runtime.executor()
        scheduler = runtime.scheduler(control=True, executor=executor)
        server = None
        try:
            if http is not None:
                try:
                    server = serve_http(settings, http)
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
                    daemon.url_path(settings.home).unlink()
            scheduler.close()
            executor.stop()
            runtime.close()
            with contextlib.suppress(OSError):
                daemon.pid_path(settings.home).unlink()
    return 0


def main(argv: list[str] | None = None) -> None:
    """``python -m accio.service``: what :func:`accio.engine.daemon.start_background` runs."""
    parser = argparse.ArgumentParser(prog=f"python -m {daemon.SERVICE_MODULE}")
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    parser.add_argument("--http", default=None, help="also serve the web UI at HOST:PORT")
    args = parser.parse_args(argv)
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
