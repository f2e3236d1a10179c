"""What goes into the state machine (events) and what comes out of it (commands).

Events are stimuli from outside: runs loaded from storage, a cache lookup answered, tasks that
finished, a kill or delete request. Commands are the I/O the scheduler loop must perform: look
keys up in the cache, submit or cancel tasks, persist changes. Both are frozen and carry the
``stimulus_id`` of the event that caused them, so that "why did node X rerun?" can be answered
from the transition log.

Events come in batches (one event for many tasks, many runs) on purpose: with 10^4 one-node runs
the scheduler handles a few hundred events, not tens of thousands, and stays as fast as the loop
it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accio.executors.base import NodeTask, TaskResult
from accio.ops.api import Resources
from accio.states import RunState
from accio.storage.records import LogLine, NodeRecord, RunRecord

if TYPE_CHECKING:
    from accio.engine.plan import WorkflowPlan
    from accio.engine.runs import ActiveRun, NodeRun, ParentTally
    from accio.engine.writer import CacheSnapshot
    from accio.storage.base import RunStateUpdate


# ----------------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class Event:
    """A stimulus; ``ts`` is its wall-clock time (epoch seconds), the machine reads no clock."""

    stimulus_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class LoadedRun:
    """An unfinished run read from storage; ``nodes`` holds its stored node records when it is
    resumed (empty for a run that never started)."""

    record: RunRecord
    plan: WorkflowPlan
    nodes: tuple[NodeRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadedParent:
    """A sweep parent of loaded children: its stored state and every child's state."""

    id: str
    state: RunState
    started: float | None
    children: Mapping[str, RunState]


@dataclass(frozen=True, slots=True)
class RunsLoaded(Event):
    """New submissions, or runs to resume after a restart (in arrival order)."""

    runs: tuple[LoadedRun, ...]
    parents: tuple[LoadedParent, ...] = ()


@dataclass(frozen=True, slots=True)
class RunUnstartable(Event):
    """A stored run whose plan cannot be built (its workflow or an operator is gone)."""

    record: RunRecord
    reason: str


@dataclass(frozen=True, slots=True)
class CacheLookedUp(Event):
    """The answer to :class:`LookUpCache`: ``found`` maps each known key to (outputs, run id)."""

    found: Mapping[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class TasksFinished(Event):
    """Results from the executor: success, failed, crashed or killed."""

    results: tuple[TaskResult, ...]


@dataclass(frozen=True, slots=True)
class KillRuns(Event):
    """Kill these runs (parents already expanded to their children). ``stored`` are unfinished
    runs among them that are not loaded (a parent none of whose children started, a run not
    yet picked up): they are killed in storage only."""

    run_ids: tuple[str, ...]
    stored: tuple[RunRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class RunsDeleted(Event):
    """These runs are gone from storage (killed first): forget them."""

    run_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReadyDiscarded(Event):
    """Forget nodes waiting to be resolved (a scheduler that only kills and deletes)."""


@dataclass(frozen=True, slots=True)
class SlotsChanged(Event):
    """The executor can now run ``slots`` tasks at once on ``capacity`` (a Dask cluster
    gained or lost workers; None: capacity unchanged): dispatch by those from now on."""

    slots: int
    capacity: Resources | None = None


# ----------------------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class Command:
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class LookUpCache(Command):
    """Look these keys up in storage and answer with :class:`CacheLookedUp`."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Submit(Command):
    """Hand these tasks to the executor (their nodes are already running)."""

    tasks: tuple[NodeTask, ...]


@dataclass(frozen=True, slots=True)
class CancelTasks(Command):
    """Stop these tasks; their nodes are already killed, so their results will be ignored."""

    task_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Persist(Command):
    """What changed, for the write coalescer: nodes and runs are read when flushed (latest
    state wins); cache entries, artifacts, logs and direct run-state writes are written as is."""

    nodes: tuple[tuple[str, NodeRun], ...] = ()
    runs: tuple[ActiveRun, ...] = ()
    parents: tuple[ParentTally, ...] = ()
    run_states: tuple[RunStateUpdate, ...] = ()
    cache_entries: tuple[CacheSnapshot, ...] = ()
    artifacts: tuple[tuple[str, int], ...] = ()
    logs: tuple[LogLine, ...] = ()
