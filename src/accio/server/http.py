"""Serving the app over HTTP from a background thread, so that the scheduler process (which owns
the main thread and its signal handlers) can also answer the REST API.

::

    handle = serve_in_thread(create_app(client=client), "127.0.0.1", 8642)
    print(handle.url)
    ...
    handle.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from accio.errors import RuntimeFailure


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main thread's owner."""

    def install_signal_handlers(self) -> None:  # signals can only be handled on the main thread
        return None


@dataclass
class ServerHandle:
    """A running server: its address, and ``stop()`` to shut it down and join its thread."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish in-flight requests and stop (idempotent)."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():  # a request hangs: stop waiting for it
            self.server.force_exit = True
            self.thread.join(timeout)


def serve_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8642,
    *,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> ServerHandle:
    """Start uvicorn in a daemon thread and return once it accepts connections.

    ``port=0`` picks a free port (see ``handle.port``). Raises RuntimeFailure when the server
    cannot start (port in use, bad host: the message says which), instead of leaving a dead
    thread behind.
    """
    sock = bind_socket(host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    server = _ThreadServer(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from uvicorn on a bind error, too
            failure.append(exc)

    thread = threading.Thread(target=run, name="accio-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(1.0)
            sock.close()
            why = f": {failure[0]}" if failure else ""
            raise RuntimeFailure(f"the HTTP server did not start on {host}:{port}{why}")
        time.sleep(0.01)
    return ServerHandle(server, thread, host, int(sock.getsockname()[1]))


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket bound to ``host:port``, so that a failure names its cause (address in use,
    unknown host, no permission) rather than uvicorn's bare exit status. With ``reuse_port``
    (``SO_REUSEPORT``), processes of the same user may bind the same address after it, each
    listening on a socket of its own, the kernel spreading connections evenly among them."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise RuntimeFailure(f"cannot serve HTTP on {where}: unknown host ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise RuntimeFailure(f"cannot serve HTTP on {where}: {reason}") from None
    return sock
