"""Write coalescing: the state machine's changes become a few batched writes.

A node or run still on its way (queued, running) is written once it has stayed so for
``COALESCE`` seconds, or at its end: a 1-second node costs one write, not four. Nothing is lost
by waiting: after a crash, unfinished nodes start over anyway. Ended nodes and runs, cache
entries, artifacts and logs go out at the next flush. Nodes and runs are read when flushed, so
the latest state wins; the coalescer never writes to them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from accio.engine.events import Persist
from accio.engine.runs import ActiveRun, NodeRun, ParentTally
from accio.engine.writer import Batch, CacheSnapshot, NodeSnapshot
from accio.states import TERMINAL_NODE_STATES, TERMINAL_RUN_STATES, run_progress
from accio.storage.base import RunStateUpdate
from accio.storage.records import LogLine

#: Seconds a node or run may stay queued or running before that state is written.
COALESCE = 1.0


class WriteCoalescer:
    """Holds what changed since the last flush and decides what is due."""

    def __init__(self, delay: float = COALESCE) -> None:
        self.delay = delay
        self._done: dict[tuple[str, str], tuple[str, NodeRun]] = {}
        # Live nodes and runs, ordered by last change (nodes) or first change (runs).
        self._live: OrderedDict[tuple[str, str], tuple[str, NodeRun, float]] = OrderedDict()
        self._runs: OrderedDict[str, tuple[ActiveRun, float]] = OrderedDict()
        self._finished: dict[str, ActiveRun] = {}
        self._parents: dict[str, ParentTally] = {}
        self._run_states: list[RunStateUpdate] = []
        self._cache_entries: list[CacheSnapshot] = []
        self._artifacts: list[tuple[str, int]] = []
        self._logs: list[LogLine] = []

    def add(self, changes: Persist, now: float) -> None:
        done, live = self._done, self._live
        for run_id, node in changes.nodes:
            ident = (run_id, node.plan.name)
            live.pop(ident, None)
            if node.state in TERMINAL_NODE_STATES:
                done[ident] = (run_id, node)
            else:
                live[ident] = (run_id, node, now)
        runs, finished = self._runs, self._finished
        for run in changes.runs:
            if run.state in TERMINAL_RUN_STATES:
                finished[run.record.id] = run
            elif run.record.id not in runs:
                runs[run.record.id] = (run, now)
        for parent in changes.parents:
            self._parents[parent.id] = parent
        self._run_states.extend(changes.run_states)
        self._cache_entries.extend(changes.cache_entries)
        self._artifacts.extend(changes.artifacts)
        self._logs.extend(changes.logs)

    def forget(self, run_ids: Iterable[str]) -> None:
        """Deleted runs: nothing of theirs may be written again (node writes are upserts)."""
        gone = set(run_ids)
        for table in (self._done, self._live):
            for ident in [i for i in table if i[0] in gone]:
                del table[ident]
        for rid in gone:
            self._runs.pop(rid, None)
            self._finished.pop(rid, None)
            self._parents.pop(rid, None)
        self._run_states = [u for u in self._run_states if u[0] not in gone]

    def batch(self, now: float, wait: bool = False) -> Batch:
        """Everything due at ``now``; with ``wait``, everything."""
        batch = Batch(self._artifacts, self._cache_entries, logs=self._logs)
        self._artifacts, self._cache_entries, self._logs = [], [], []
        cutoff = now - self.delay
        batch.nodes = [snapshot(rid, n) for rid, n in self._done.values()]
        self._done = {}
        live = self._live
        while live:
            rid, node, changed = next(iter(live.values()))
            if not wait and changed > cutoff:
                break  # the rest changed even more recently
            live.popitem(last=False)
            batch.nodes.append(snapshot(rid, node))
        out = batch.runs
        finished, runs = self._finished, self._runs
        for rid, run in finished.items():
            runs.pop(rid, None)
            out.append((rid, run.state, run.started, run.completed(), 1.0))
        self._finished = {}
        while runs:
            rid, (run, changed) = next(iter(runs.items()))
            if not wait and changed > cutoff:
                break
            runs.popitem(last=False)
            states = [n.state for n in run.nodes.values()]
            out.append((rid, run.state, run.started, None, run_progress(states)))
        for parent in self._parents.values():
            ended = parent.state in TERMINAL_RUN_STATES
            out.append(
                (
                    parent.id,
                    parent.state,
                    parent.started,
                    now if ended else None,
                    parent.progress(),
                )
            )
        self._parents = {}
        out.extend(self._run_states)
        self._run_states = []
        return batch


def snapshot(run_id: str, node: NodeRun) -> NodeSnapshot:
    """A node's state now, as the writer thread serialises it."""
    return (
        run_id,
        node.plan.name,
        node.plan.spec.name,
        node.state,
        node.key,
        node.components.seed if node.components else None,
        node.attempts,
        node.queued_at,
        node.started,
        node.completed,
        node.error,
        node.outputs,
        node.cache_source,
        node.plan.position,
        node.ran_on,
    )
