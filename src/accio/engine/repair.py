"""In-run repair of corrupt inputs, and the checks that keep damaged artifacts from being reused.

A consumer whose dataset input turns out corrupt (the worker fails it with ``reason ==
"corrupt_input"`` and the ``digest``; the store has quarantined the file) need not fail its run:
the node of the same run whose outputs hold that digest is sent back to pending, misses the cache
(its storage entry is rejected by the artifact guard, its in-memory one is dropped here),
re-executes and, outputs being deterministic, writes the very same digest back; the consumer
waits for it and runs again. Each digest is repaired once per run: found corrupt again after its
repair, the consumer fails for real. Pure, like the machine: the one outside check
(``usable``, the storage's artifact guard) is injected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from accio.engine.runs import ActiveRun, NodeRun
from accio.states import DONE_NODE_STATES
from accio.storage.records import LogLine, dataset_digests

if TYPE_CHECKING:
    from accio.engine.machine import StateMachine

log = logging.getLogger("accio.scheduler")

#: Returns the digests, among those given, whose artifacts may be reused (a stat, no hash).
Usable = Callable[[set[str]], set[str]]


def usable_outputs(outputs: str, usable: Usable | None, checked: dict[str, bool]) -> bool:
    """Whether every artifact ``outputs`` refers to is still good; ``checked`` memoises per
    digest within one scheduling pass (10^4 children hitting one source stat it once)."""
    if usable is None or "dataset" not in outputs:
        return True
    digests = dataset_digests(outputs)
    unknown = {d for d in digests if d not in checked}
    if unknown:
        good = usable(unknown)
        for digest in unknown:
            checked[digest] = digest in good
    return all(checked[d] for d in digests)


def recent_hit(
    recent: MutableMapping[str, tuple[str, str]],
    key: str,
    usable: Usable | None,
    checked: dict[str, bool],
) -> tuple[str, str] | None:
    """A remembered result, unless an artifact it names is damaged or gone: then a miss, and
    forgotten (storage's guard answers for its stored entry)."""
    hit = recent.get(key)
    if hit is not None and not usable_outputs(hit[0], usable, checked):
        del recent[key]
        return None
    return hit


def forget_digest(recent: MutableMapping[str, tuple[str, str]], digest: str) -> int:
    """Drop the remembered results whose outputs refer to ``digest``; returns how many."""
    stale = [key for key, (outputs, _) in recent.items() if digest in outputs]
    for key in stale:
        del recent[key]
    return len(stale)


def producer_of(run: ActiveRun, digest: str, consumer: NodeRun) -> NodeRun | None:
    """The done node of ``run`` whose outputs hold ``digest`` (None: not produced in-run)."""
    for node in run.nodes.values():
        if node is consumer or node.state not in DONE_NODE_STATES or not node.outputs:
            continue
        if digest in node.outputs and digest in dataset_digests(node.outputs):
            return node
    return None


def repaired(run: ActiveRun, node: NodeRun, next_task: int) -> None:
    """``node`` is done (executed, or joined an identical execution): if it was re-producing a
    digest, tasks from ``next_task`` on see the repaired artifact."""
    repairs = run.repairs
    if not repairs:
        return
    for digest, (producer, after) in repairs.items():
        if after is None and producer == node.plan.name:
            repairs[digest] = (producer, next_task)


def repair_input(
    machine: StateMachine, run: ActiveRun, node: NodeRun, error: dict[str, Any], task_id: int
) -> bool:
    """Re-produce the corrupt input of ``node`` (which just failed with ``corrupt_input``) and
    send ``node`` back to wait for it; False when no repair applies and the node must fail."""
    digest = error.get("digest")
    if not isinstance(digest, str) or not digest:
        return False
    short = digest[:12]
    name = node.plan.name
    repairs = run.repairs
    if repairs is None:
        repairs = run.repairs = {}
    known = repairs.get(digest)
    if known is not None:
        producer = run.nodes[known[0]]
        if known[1] is not None and task_id >= known[1]:
            return False  # corrupt again after its repair: fail for real
        # Dispatched before the repair ended (another reader of the same file): wait too.
    else:
        found = producer_of(run, digest, node)
        if found is None:
            return False
        producer = found
        repairs[digest] = (producer.plan.name, None)
        forget_digest(machine._recent, digest)
        _reset_producer(machine, run, producer, name, short)
    machine._release_joiners(node, None)  # identical nodes that joined it try on their own
    nodes = run.nodes
    node.error = {
        "classifier": "Repaired",
        "message": (
            f"input '{error.get('port', '?')}' (artifact {digest}) was corrupt: "
            f"{producer.plan.name} re-executed in this run, then {name} again"
        ),
        "stacktrace": "",
        "causes": [str(error.get("message", ""))],  # what the reader found
        "reason": "repaired",
        "digest": digest,
        "producer": producer.plan.name,
    }
    node.completed = None
    machine._transition(run, node, "pending", f"repair: waits for {producer.plan.name}")
    node.waiting = sum(1 for d in node.plan.deps if nodes[d].state not in DONE_NODE_STATES)
    if node.waiting == 0:
        machine._ready.append((run, node))
    machine._logs.append(
        LogLine(
            run.record.id,
            name,
            machine._now,
            "stderr",
            f"[accio] input artifact {short} corrupt: {producer.plan.name} is re-executed "
            f"(repair), then {name} runs again",
        )
    )
    return True


def _reset_producer(
    machine: StateMachine, run: ActiveRun, producer: NodeRun, consumer: str, short: str
) -> None:
    """``producer`` back to pending and ready; what waits on it in this run waits again."""
    machine._transition(run, producer, "pending", f"repair: {consumer} found {short} corrupt")
    producer.forced = True  # executed again, never served by a stale entry; replaces it
    producer.set_outputs("{}")
    producer.outputs = None
    producer.cache_source = None
    producer.completed = None
    producer.error = None
    producer.waiting = 0
    for dependent in producer.plan.dependents:
        child = run.nodes[dependent]
        if child.state == "pending":
            child.waiting += 1
    machine._ready.append((run, producer))
    machine._logs.append(
        LogLine(
            run.record.id,
            producer.plan.name,
            machine._now,
            "stderr",
            f"[accio] output artifact {short} found corrupt by {consumer}: re-executed (repair)",
        )
    )


def fail_unkeyable(machine: StateMachine, run: ActiveRun, node: NodeRun, exc: Exception) -> None:
    """Inputs or key that cannot be computed (an unreadable file, a bad upstream value): this
    node fails with the reason, what needs it is skipped, the loop goes on."""
    log.warning("node %s/%s: cannot compute its key: %s", run.id, node.plan.name, exc)
    node.error = {
        "classifier": type(exc).__name__,
        "message": f"cannot compute the node's inputs or cache key: {exc}",
        "stacktrace": "",
        "causes": [],
        "reason": "key_error",
    }
    node.started = node.started or machine._now
    node.completed = machine._now
    machine._transition(run, node, "failed", "inputs or key failed")
    machine._skip_downstream(run, node)
    machine._run_changed(run, f"{node.plan.name} failed")
