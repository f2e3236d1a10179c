"""The state writer waits out storage failures that pass and re-raises the others."""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

import pytest
import sqlalchemy.exc

from accio.engine.writer import Batch, StateWriter, transient
from accio.storage.base import StorageError
from accio.storage.memory import MemoryStorage
from accio.storage.records import LogLine


def wrapped(cause: BaseException) -> StorageError:
    try:
        raise StorageError("the database is busy or unavailable") from cause
    except StorageError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlalchemy.exc.OperationalError("INSERT", {}, Exception("disk I/O error")), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (wrapped(sqlite3.OperationalError("database or disk is full")), True),
        (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("UNIQUE")), False),
        (OSError(errno.EACCES, "Permission denied"), False),
        (ValueError("a bug"), False),
    ],
)
def test_transient(exc: BaseException, expected: bool) -> None:
    assert transient(exc) is expected


def batch_of(n: int) -> Batch:
    return Batch(logs=[LogLine("r", "n", float(i), "stdout", f"line {i}") for i in range(n)])


def test_failing_writes_are_retried_in_order_and_reported(monkeypatch: Any) -> None:
    storage = MemoryStorage()
    calls = {"left": 3}
    append = storage.append_logs

    def flaky(lines: Any) -> None:
        if calls["left"]:
            calls["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        append(lines)

    monkeypatch.setattr(storage, "append_logs", flaky)
    reports: list[str | None] = []
    writer = StateWriter(storage, backoff=(0.001,), report=reports.append)
    writer.submit(batch_of(2))
    writer.submit(batch_of(3))
    writer.drain()
    writer.close()
    lines = [line.line for line in storage.get_logs("r", None)]
    assert sorted(lines) == sorted(["line 0", "line 1", "line 0", "line 1", "line 2"])
    assert reports[0] is not None and "disk full" in reports[0]
    assert reports[-1] is None and writer.trouble is None


def test_a_bug_is_handed_back_to_the_scheduler(monkeypatch: Any) -> None:
    storage = MemoryStorage()

    def broken(lines: Any) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr(storage, "append_logs", broken)
    writer = StateWriter(storage, backoff=(0.001,))
    writer.submit(batch_of(1))
    with pytest.raises(TypeError, match="a bug"):
        writer.drain()
    writer.close()
