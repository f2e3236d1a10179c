"""A background thread that writes the scheduler's state changes to storage, in order.

The scheduler loop hands over immutable snapshots and goes on dispatching; SQLite releases the
GIL while it writes, so workers are fed during a flush. A failed write is re-raised in the
scheduler at its next hand-over: state is never silently lost.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from accio.storage.base import RunStateUpdate, Storage
from accio.storage.records import CacheEntry, LogLine, NodeRecord

#: (run_id, name, op, state, key, seed, attempts, queued_at, started, completed, error, outputs,
#: cache_source, position): a node's state at the time of the flush, serialised by the writer.
NodeSnapshot = tuple[Any, ...]


#: (key, op, version, code_hash, KeyComponents, outputs, run_id, node, created, duration)
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
        storage.record_cache(
            [
                CacheEntry(
                    s[0],
                    s[1],
                    s[2],
                    s[3],
                    s[4].to_json(),
                    s[5] or "{}",
                    s[6],
                    s[7],
                    s[8],
                    s[9],
                )
                for s in batch.cache_entries
            ]
        )
    if batch.nodes:
        storage.update_nodes(node_records(batch.nodes))
    if batch.logs:
        storage.append_logs(batch.logs)
    if batch.runs:
        storage.set_run_states(batch.runs)


class StateWriter:
    def __init__(self, storage: Storage, *, threaded: bool = True) -> None:
        self.storage = storage
        self.threaded = threaded  # False writes in the caller's thread (debugging, profiling)
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
                    write(self.storage, batch)
            except BaseException as exc:  # handed back to the scheduler thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, batch: Batch) -> None:
        self._check()
        if batch and not self.threaded:
            write(self.storage, batch)
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
