"""One web-server process: the REST API and web UI over a home, on a socket its parent bound.

The scheduler process binds the listening socket and starts ``http_workers`` of these
(:mod:`accio.server.workers`); each accepts connections on the shared socket (the kernel spreads
them), reads the database directly through its own :class:`~accio.client.local.LocalClient`,
and reaches the scheduler only through the database and the control channel. Requests are thus
never slowed by the scheduler's work, nor the scheduler by theirs.

::

    python -m accio.server.process (--port 8765 | --fd 5) --host 127.0.0.1 --parent PID
        [--ready-fd 6]

A worker dies with its parent (``PR_SET_PDEATHSIG`` on Linux, else a watchdog thread), so that
a killed scheduler never leaves the port held by an orphan.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

log = logging.getLogger("accio.server.process")


def die_with_parent(parent: int) -> None:
    """Be killed as soon as ``parent`` is gone (at once on Linux, within 0.2 s elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="accio-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m accio.server.process")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="the shared listening socket's descriptor")
    where.add_argument("--port", type=int, help="bind HOST:PORT with SO_REUSEPORT")
    parser.add_argument("--host", required=True, help="the host it is bound to (Host check)")
    parser.add_argument("--parent", type=int, required=True, help="the scheduler's pid")
    parser.add_argument("--ready-fd", type=int, default=None, help="written to once serving")
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"
    )
    import uvicorn

    from accio.config import Settings
    from accio.server.app import create_app
    from accio.server.auth import allowed_hosts

    settings = Settings.from_env()
    app = create_app(  # over a local client of its own, which never starts a scheduler
        settings,
        max_body_bytes=settings.max_body_bytes,
        allowed_hosts=allowed_hosts(args.host, settings.allowed_hosts),
    )
    if args.port is not None:
        from accio.server.http import bind_socket

        sock = bind_socket(args.host, args.port, reuse_port=True)
        sock.listen(2048)
    else:
        sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        _few_threads(app, THREADS), log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    if args.ready_fd is not None:
        _tell_when_started(server, args.ready_fd)
    server.run(sockets=[sock])


#: Threads running the (blocking) endpoints of one process: enough to overlap database waits,
#: few enough that they do not thrash on the GIL (anyio's default is 40).
THREADS = 2


def _few_threads(app: Any, threads: int) -> Any:
    """``app`` with anyio's default thread limiter set to ``threads`` on its first call (the
    limiter belongs to the running event loop)."""
    done = False

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        nonlocal done
        if not done:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
            done = True
        await app(scope, receive, send)

    return wrapped


def _tell_when_started(server: object, fd: int) -> None:
    """Write one byte to ``fd`` once ``server`` accepts connections, then close it."""

    def wait() -> None:
        while not getattr(server, "started", False):
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            os.write(fd, b"1")
            os.close(fd)

    threading.Thread(target=wait, name="accio-ready", daemon=True).start()


if __name__ == "__main__":
    main()
