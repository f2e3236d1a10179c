"""Serving the app over HTTP from a background thread, so that the scheduler process (which owns
the main thread and its signal handlers) can also answer the REST API.

::

    handle = serve_in_thread(create_app(client=client), "127.0.0.1", 8642)
    print(handle.url)
    ...
    handle.stop()
"""

from __future__ import annotations

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
    cannot start (port in use, bad host), instead of leaving a dead thread behind.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    server = _ThreadServer(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # SystemExit from uvicorn on a bind error, too
            failure.append(exc)

    thread = threading.Thread(target=run, name="accio-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(1.0)
            why = f": {failure[0]}" if failure else ""
            raise RuntimeFailure(f"the HTTP server did not start on {host}:{port}{why}")
        time.sleep(0.01)
    bound = port
    for listener in server.servers:
        for sock in listener.sockets:
            bound = int(sock.getsockname()[1])
            break
    return ServerHandle(server, thread, host, bound)
