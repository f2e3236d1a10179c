"""A background thread that writes the scheduler's state changes to storage, in order.

The scheduler loop hands over immutable snapshots and goes on dispatching; SQLite releases the
GIL while it writes, so workers are fed during a flush. A write that fails for a condition that
passes (:func:`transient`: a full disk, a locked or unreachable database) is rolled back and
retried with backoff, the batch and those behind it kept in order, while :attr:`StateWriter.
trouble` says why, so the scheduler pauses dispatch and reports it; nothing is lost. Any other
failure (a bug) is re-raised in the scheduler at its next hand-over.
"""

from __future__ import annotations

import errno
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from accio.storage.base import RunStateUpdate, Storage
from accio.storage.records import CacheEntry, LogLine, NodeRecord

log = logging.getLogger("accio.scheduler")

#: Seconds between retries of a failing write: doubled each time, up to the last value.
BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
#: OS errors that pass once space is freed or a mount comes back.
TRANSIENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ENOLCK}
)


#: Database errors that pass (locked, busy, full, connection lost), by class name and library.
DATABASE_TRANSIENT = frozenset({"OperationalError", "InterfaceError"})
DATABASES = frozenset({"sqlalchemy", "sqlite3", "psycopg", "psycopg2"})


def transient(exc: BaseException) -> bool:
    """A storage failure worth waiting out: the database full, locked or unreachable, the
    disk full. Integrity errors and bugs are not."""
    for cls in type(exc).__mro__:  # by name: no database library imported by the engine
        if cls.__name__ == "IntegrityError":
            return False
        if cls.__name__ in DATABASE_TRANSIENT and cls.__module__.split(".")[0] in DATABASES:
            return True
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and transient(cause)


def describe(exc: BaseException) -> str:
    """One line for a status: the condition, not a traceback."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"disk full: {exc}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


#: (run_id, name, op, state, key, seed, attempts, queued_at, started, completed, error, outputs,
#: cache_source, position, ran_on): a node's state at the time of the flush, serialised by the
#: writer.
NodeSnapshot = tuple[Any, ...]


#: (key, op, version, code_hash, KeyComponents, outputs, run_id, node, created, duration,
#: replace): ``replace`` for a forced re-execution, whose result replaces the stored entry.
CacheSnapshot = tuple[Any, ...]


@dataclass
class Batch:
    artifacts: list[tuple[str, int]] = field(default_factory=list)
    cache_entries: list[CacheSnapshot] = field(default_factory=list)
    nodes: list[NodeSnapshot] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    runs: list[RunStateUpdate] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.artifacts or self.cache_entries or self.nodes or self.logs or self.runs)


def node_records(snapshots: Sequence[NodeSnapshot]) -> list[NodeRecord]:
    out = []
    for s in snapshots:
        error, outputs = s[10], s[11]
        out.append(
            NodeRecord(
                run_id=s[0],
                name=s[1],
                op=s[2],
                state=s[3],
                cache_key=s[4],
                seed=s[5],
                attempts=s[6],
                queued_at=s[7],
                started=s[8],
                completed=s[9],
                error=json.dumps(error) if error else None,
                outputs=outputs,
                cache_source=s[12],
                position=s[13],
                ran_on=s[14],
            )
        )
    return out


def write(storage: Storage, batch: Batch) -> None:
    """Artifacts and cache entries first, so that a node recorded as done can always be reused.
    One transaction: a 10^4-node flush commits once."""
    with storage.transaction():
        _write(storage, batch)


def _write(storage: Storage, batch: Batch) -> None:
    if batch.artifacts:
        storage.record_artifacts(batch.artifacts)
    if batch.cache_entries:
        entries = [
            (CacheEntry(s[0], s[1], s[2], s[3], s[4].to_json(), s[5] or "{}", *s[6:10]), s[10])
            for s in batch.cache_entries
        ]
        kept = [e for e, replace in entries if not replace]
        if kept:
            storage.record_cache(kept)
        forced = [e for e, replace in entries if replace]
        if forced:
            storage.record_cache(forced, replace=True)
    if batch.nodes:
        storage.update_nodes(node_records(batch.nodes))
    if batch.logs:
        storage.append_logs(batch.logs)
    if batch.runs:
        storage.set_run_states(batch.runs)


class StateWriter:
    def __init__(
        self,
        storage: Storage,
        *,
        threaded: bool = True,
        backoff: tuple[float, ...] = BACKOFF,
        report: Callable[[str | None], None] | None = None,
    ) -> None:
        self.storage = storage
        #: Called (from the writer thread) when writes start or stop failing: the scheduler
        #: may be blocked waiting for them meanwhile.
        self.report = report
        self.threaded = threaded  # False writes in the caller's thread (debugging, profiling)
        self.backoff = backoff
        #: Why writes are failing right now (None when they go through): read by the loop.
        self.trouble: str | None = None
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="accio-state-writer", daemon=True)
        if threaded:
            self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self._error is None:
                    self._write_patiently(batch)
            except BaseException as exc:  # handed back to the scheduler thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _write_patiently(self, batch: Batch) -> None:
        """Write ``batch``; a transient failure is retried (the transaction rolled back, the
        batch kept) until it goes through, so the batches behind it wait in order."""
        failures = 0
        while True:
            try:
                write(self.storage, batch)
            except Exception as exc:
                if not transient(exc):
                    raise
                delay = self.backoff[min(failures, len(self.backoff) - 1)]
                failures += 1
                condition = describe(exc)
                if self.trouble != condition:
                    log.warning(
                        "storage write failed (%s): retrying every <= %gs", condition, delay
                    )
                    self.trouble = condition
                    if self.report is not None:
                        self.report(condition)
                time.sleep(delay)
                continue
            if self.trouble is not None:
                log.warning("storage writes go through again after %d failure(s)", failures)
                self.trouble = None
                if self.report is not None:
                    self.report(None)
            return

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    @property
    def backlog(self) -> int:
        """Batches handed over and not yet written."""
        return self._queue.unfinished_tasks

    def submit(self, batch: Batch) -> None:
        self._check()
        if batch and not self.threaded:
            self._write_patiently(batch)
        elif batch:
            self._queue.put(batch)

    def drain(self) -> None:
        """Wait until everything handed over is written."""
        self._queue.join()
        self._check()

    def close(self) -> None:
        if self.threaded:
            self._queue.put(None)
            self._thread.join(timeout=60)
        self._check()
