"""Random interleavings of the outside world against a strict machine.

Submissions, cache answers, task results of every status (for live and for cancelled tasks),
kills and deletes arrive in any order. The machine must never raise (every race is a no-op),
must stay consistent after each event, and must end with every run finished once the world
stops sending new work.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accio.engine.events import (
    LoadedParent,
    LookUpCache,
    RunsDeleted,
    RunsLoaded,
    Submit,
    TasksFinished,
)
from accio.engine.machine import StateMachine
from accio.executors.base import NodeTask, TaskResult
from accio.ops.api import Resources

from .conftest import answer, check_consistent, kill, loaded, run_record, stimulus, success

Action = tuple[str, int]
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["load", "answer", "succeed", "fail", "crash", "killed", "kill", "delete"]
        ),
        st.integers(0, 3),
    ),
    max_size=40,
)


def result(task: NodeTask, status: str) -> TaskResult:
    if status == "succeed":
        return success(task)
    return TaskResult(task.task_id, status, error={"message": status})  # type: ignore[arg-type]


#: Tasks handed over ahead of time (prefetch), or one at a time (nodes wait in the queue).
CAPACITIES = st.sampled_from([(Resources(2.0, 4096, 0), 1), (Resources(1.0, 4096, 0), 2)])


@settings(max_examples=300, deadline=None)
@given(ACTIONS, CAPACITIES)
def test_any_interleaving_keeps_the_machine_consistent(
    actions: list[Action], capacity: tuple[Resources, int]
) -> None:
    machine = StateMachine(*capacity, strict=True)
    sent: list[NodeTask] = []  # every task ever submitted (cancelled ones included)
    lookups = 0
    loaded_ids: set[str] = set()

    def apply(event: object) -> None:
        nonlocal lookups
        for command in machine.handle(event):  # type: ignore[arg-type]
            if isinstance(command, LookUpCache):
                lookups += 1
            elif isinstance(command, Submit):
                sent.extend(command.tasks)
        check_consistent(machine)

    for action, index in actions:
        run_id = f"r{index}"
        if action == "load" and run_id not in loaded_ids:
            loaded_ids.add(run_id)
            record = run_record(run_id, x=float(index % 2), parent="p")  # identical pairs join
            children = {f"r{i}": "pending" for i in range(4)}
            event = loaded(record)
            parent = LoadedParent("p", "pending", None, children)
            apply(RunsLoaded(event.stimulus_id, event.ts, event.runs, (parent,)))
        elif action == "answer" and lookups:
            lookups -= 1
            apply(answer())
        elif action in ("succeed", "fail", "crash", "killed") and sent:
            task = sent[index % len(sent)]  # live or long gone: both must be fine
            status = {"fail": "failed", "crash": "crashed"}.get(action, action)
            apply(TasksFinished(stimulus(), 12.0, (result(task, status),)))
        elif action == "kill":
            apply(kill(run_id))
        elif action == "delete":
            apply(kill(run_id))
            apply(RunsDeleted(stimulus(), 14.0, (run_id,)))

    # The world calms down: answer every lookup with a miss, every task with a success.
    for _ in range(100):
        if not machine.busy:
            break
        if lookups:
            lookups -= 1
            apply(answer())
            continue
        live = [t for t in sent if t.task_id in machine.queue.in_flight]
        if not live:
            break
        apply(TasksFinished(stimulus(), 15.0, tuple(success(t) for t in live)))
    assert not machine.busy, {
        r: [n.state for n in v.nodes.values()] for r, v in machine.runs.items()
    }
    if len(loaded_ids) == 4:  # every child ended: so did the sweep parent
        assert "p" not in machine.parents
        assert machine.story("p")[-1][5] in ("success", "failed", "killed")
