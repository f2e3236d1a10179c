"""The web-server processes of a scheduler: started on one address, restarted when one dies,
stopped with the scheduler.

The scheduler binds the address itself (so that a taken port or an unknown host is its error,
reported before it says it is ready), then starts ``count`` processes of
:mod:`accio.server.process`, like uvicorn's ``--workers`` but supervised from the scheduler's
own loop (:meth:`HttpWorkers.supervise`), which owns the main thread and its signals. UI and API
latency then depend on these processes only, never on the scheduler's load.

Where the system has ``SO_REUSEPORT`` (Linux), the scheduler's socket only holds the address (it
never listens) and each process listens on a socket of its own bound to it, so that the kernel
spreads connections evenly; on one shared listening socket, the first process to wake takes
them all. Elsewhere they share the scheduler's socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from accio.errors import RuntimeFailure

log = logging.getLogger("accio.server.workers")

#: How long the scheduler waits for the first web-server process to accept connections.
READY_TIMEOUT_S = 60.0
#: Least time between two restarts of one slot (a process failing at start is not a busy loop).
RESTART_BACKOFF_S = 2.0


@dataclass
class _Slot:
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    ready_fd: int | None = field(default=None, repr=False)


class HttpWorkers:
    """``count`` web-server processes on ``sock`` (bound, not yet listening is fine)."""

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        count: int,
        env: Mapping[str, str],
        *,
        reuse_port: bool = False,
    ) -> None:
        self.sock = sock
        self.reuse_port = reuse_port
        self.host = host
        self.port = int(sock.getsockname()[1])
        self.env = dict(env)
        self.slots = [_Slot() for _ in range(max(1, count))]
        self.stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _spawn(self, slot: _Slot) -> None:
        read_end, write_end = os.pipe()
        where = (
            ["--port", str(self.port)] if self.reuse_port else ["--fd", str(self.sock.fileno())]
        )
        command = [
            sys.executable,
            "-m",
            "accio.server.process",
            *where,
            "--host",
            self.host,
            "--parent",
            str(os.getpid()),
            "--ready-fd",
            str(write_end),
        ]
        try:
            shared = () if self.reuse_port else (self.sock.fileno(),)
            slot.process = subprocess.Popen(command, env=self.env, pass_fds=(*shared, write_end))
        finally:
            os.close(write_end)
        if slot.ready_fd is not None:
            with contextlib.suppress(OSError):
                os.close(slot.ready_fd)
        slot.ready_fd = read_end
        slot.started = time.monotonic()

    def spawn(self) -> None:
        """Start every process; on a shared socket, connections queue until one serves them."""
        if not self.reuse_port:
            self.sock.listen(2048)
        for slot in self.slots:
            self._spawn(slot)

    def wait(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Return once a process accepts connections.

        Raises RuntimeFailure (every process stopped) when none does within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            waiting = {s.ready_fd: s for s in self.slots if s.ready_fd is not None}
            ready, _, _ = select.select(list(waiting), [], [], 0.05)
            for fd in ready:
                if os.read(fd, 1):
                    return
                os.close(fd)  # EOF: that process exited before serving
                waiting[fd].ready_fd = None
            alive = [s for s in self.slots if s.process and s.process.poll() is None]
            if not alive or time.monotonic() > deadline:
                codes = [s.process.returncode for s in self.slots if s.process]
                self.stop()
                why = "did not start in time" if alive else f"exited (codes {codes})"
                raise RuntimeFailure(
                    f"the web server at {self.url} {why}: see the scheduler's log"
                )

    def supervise(self) -> None:
        """Restart the processes that died (each at most once per RESTART_BACKOFF_S)."""
        if self.stopped:
            return
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is None or process.poll() is None:
                continue
            if now - slot.started < RESTART_BACKOFF_S:
                continue
            slot.restarts += 1
            log.warning(
                "web server process %d exited with code %s: starting another (restart %d)",
                process.pid,
                process.returncode,
                slot.restarts,
            )
            self._spawn(slot)

    def stop(self, timeout: float = 10.0) -> None:
        """Let in-flight requests finish (SIGTERM), kill what remains after ``timeout``."""
        self.stopped = True
        live = [s.process for s in self.slots if s.process and s.process.poll() is None]
        for process in live:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in live:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for slot in self.slots:
            if slot.ready_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(slot.ready_fd)
                slot.ready_fd = None
        with contextlib.suppress(OSError):
            self.sock.close()
