"""The scheduler's health as others can read it: ``$ACCIO_HOME/scheduler-status.json``.

When storage fails in a way that passes (a full disk, a locked or unreachable database), the
scheduler pauses dispatch and retries; this file says so, for ``accio server status``, the UI
and :meth:`accio.client.contract.AccioClient.scheduler_status`. It is written in place over a
block reserved when the scheduler starts, so that reporting a full disk needs no free space.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("accio.scheduler")

#: Bytes reserved for the status (JSON padded with spaces).
STATUS_SIZE = 4096


def status_path(home: Path) -> Path:
    return home / "scheduler-status.json"


def read_status(home: Path) -> dict[str, Any]:
    """The last status written (empty when none, or unreadable)."""
    try:
        text = status_path(home).read_text().strip()
        data = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class StatusBoard:
    """Writes the scheduler's condition to a file reserved up front (best effort: reporting
    must never be what stops the scheduler)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.condition: str | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()  # the loop and the writer thread both report
        if path is not None:
            try:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, b" " * STATUS_SIZE, 0)  # the block later writes reuse
            except OSError as exc:
                log.warning("cannot reserve the status file %s: %s", path, exc)
                self._close()
        self._write({"condition": None, "paused": False})

    def report(self, condition: str | None, since: float | None, **extra: Any) -> None:
        """Say ``condition`` (None: healthy) if it changed."""
        with self._lock:
            if condition == self.condition:
                return
            self.condition = condition
            if condition is None:
                self._write({"condition": None, "paused": False})
            else:
                self._write({"condition": condition, "paused": True, "since": since, **extra})

    def _write(self, body: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = json.dumps(body).encode()[: STATUS_SIZE - 1]
        try:
            os.pwrite(self._fd, data.ljust(STATUS_SIZE, b" "), 0)
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)

    def close(self) -> None:
        self.report(None, None)
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
