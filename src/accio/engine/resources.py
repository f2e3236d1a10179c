"""First come, first served within resources: the dispatch queue and what is in flight (pure).

A task that fits one executor slot (``small``) may be handed over ahead of time, ``PREFETCH``
per slot: the executor queues it behind the running ones, so at most ``slots`` run at once and
workers never idle between tasks. Any other task waits until the resources it declares are free
(tasks queued in workers count as using at most the whole machine). The head of the queue waits
for resources; nothing overtakes it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from accio.engine.plan import clamp
from accio.engine.runs import ActiveRun, NodeRun
from accio.ops.api import Resources

#: Small tasks handed to the executor per slot ahead of time (they queue inside workers).
PREFETCH = 64

Pair = tuple[ActiveRun, NodeRun]
InFlight = tuple[ActiveRun, NodeRun, Resources]


class DispatchQueue:
    """Queued nodes in arrival order, and the tasks handed to the executor."""

    def __init__(self, capacity: Resources, slots: int) -> None:
        self.capacity = capacity
        self.in_flight: dict[int, InFlight] = {}
        self._queue: deque[Pair] = deque()
        self._used_cpus = 0.0
        self._used_memory = 0
        self._needs: dict[str, Resources] = {}  # operator -> its clamped resources
        self._next_task = 1
        self.resize(slots)

    def resize(self, slots: int, capacity: Resources | None = None) -> None:
        """``slots`` tasks may run at once from now on, within ``capacity`` when given (tasks
        in flight stay out)."""
        if capacity is not None and capacity != self.capacity:
            self.capacity = capacity
            self._needs.clear()  # clamped to the old capacity
        self.slots = max(1, slots)
        self._small_cpus = self.capacity.cpus / self.slots + 1e-9
        self._small_memory = self.capacity.memory_mb / self.slots

    def __len__(self) -> int:
        return len(self._queue)

    def append(self, pair: Pair) -> None:
        self._queue.append(pair)

    def appendleft(self, pair: Pair) -> None:
        """A retry goes first: it was first in line already."""
        self._queue.appendleft(pair)

    def need(self, node: NodeRun) -> Resources:
        """What a node's operator declares, clamped to the machine (then it runs alone)."""
        spec = node.plan.spec
        need = self._needs.get(spec.name)
        if need is None:
            need = self._needs[spec.name] = clamp(spec.resources, self.capacity)
        return need

    def fits(self, need: Resources) -> bool:
        """Whether a task needing ``need`` can be handed over now."""
        if need.cpus <= self._small_cpus and need.memory_mb <= self._small_memory:
            return len(self.in_flight) < self.slots * PREFETCH
        capacity = self.capacity
        used_cpus = min(self._used_cpus, capacity.cpus)
        used_memory = min(self._used_memory, capacity.memory_mb)
        return not self.in_flight or (
            used_cpus + need.cpus <= capacity.cpus + 1e-9
            and used_memory + need.memory_mb <= capacity.memory_mb
        )

    def take(
        self, runs: dict[str, ActiveRun]
    ) -> Iterator[tuple[int, ActiveRun, NodeRun, Resources]]:
        """Queued nodes that may start now, each with a new task id and counted in flight.
        Entries whose node is no longer queued (cancelled, skipped) or whose run is gone are
        dropped on the way."""
        queue = self._queue
        while queue:
            run, node = queue[0]
            if node.state != "queued" or run.record.id not in runs:
                queue.popleft()
                continue
            need = self.need(node)
            if not self.fits(need):
                return
            queue.popleft()
            task_id = self._next_task
            self._next_task += 1
            self.in_flight[task_id] = (run, node, need)
            self._used_cpus += need.cpus
            self._used_memory += need.memory_mb
            node.task_id = task_id
            yield task_id, run, node, need

    @property
    def next_task(self) -> int:
        """The id the next dispatched task gets (ids only grow)."""
        return self._next_task

    def release(self, task_id: int) -> InFlight | None:
        """A task ended (or was given up): its resources are free again."""
        entry = self.in_flight.pop(task_id, None)
        if entry is not None:
            need = entry[2]
            self._used_cpus -= need.cpus
            self._used_memory -= need.memory_mb
            entry[1].task_id = None
        return entry
