"""Provenance of executed results: each is cached under the key of the code that produced it.

Plugins are re-imported when their code changes (``reload_plugins``): new submissions get new
plans, but a run already in flight keeps its plan, whose keys name the old code, while its
nodes dispatched from then on run in recycled workers that import the new code. Were such a
result cached under the planned key, reverting the code would later serve it as memoized,
though the reverted code never produced it. The worker reports the code hash it actually ran
(:attr:`TaskResult.code_hash`); when it differs from the one the node's key was computed with,
the node takes the key of that code (and so do the identical nodes that joined its execution),
with a note saying so. Pure, like the machine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from accio.engine.runs import ActiveRun, NodeRun
from accio.executors.base import UNKNOWN_CODE, TaskResult
from accio.storage.records import LogLine

if TYPE_CHECKING:
    from accio.engine.machine import StateMachine

#: ``reason`` of the note a node re-keyed here keeps in its ``error`` (describe shows it).
CODE_CHANGED = "code_changed"


def key_of_ran_code(
    machine: StateMachine, run: ActiveRun, node: NodeRun, result: TaskResult
) -> bool:
    """``node`` succeeded with ``result``: if the worker ran other operator code than the
    node's key names, the node, its joiners and their cache entry take the key of the code
    that ran (same components but the code hash: the key is computed by
    :meth:`KeyComponents.key`, as for any node). False: the code that ran is unknown
    (:data:`UNKNOWN_CODE`), so the result must not be memoized at all."""
    ran = result.code_hash
    planned = node.components
    if ran == UNKNOWN_CODE:
        message = (
            f"{node.plan.spec.name}'s code changed on disk after the worker imported it: the "
            "code that ran cannot be hashed, so this result is used but not memoized"
        )
        if node.error is None:
            node.error = note(message, planned.code_hash if planned else "", ran, node.key)
        machine._logs.append(
            LogLine(run.record.id, node.plan.name, machine._now, "stderr", f"[accio] {message}")
        )
        return False
    if not ran or planned is None or ran == planned.code_hash:
        return True
    old = node.key
    node.components = components = replace(planned, code_hash=ran)
    node.key = key = components.key()
    by_key = machine._by_key
    entry = by_key.get(old) if old is not None else None
    if old is not None and entry is not None and entry[0] is node:  # joiners follow it
        del by_key[old]
        for _, joiner in entry[1]:
            joiner.components, joiner.key = components, key
        current = by_key.get(key)
        if current is None:
            by_key[key] = entry
        else:  # the new code's key is being executed too: they wait for that execution
            current[1].extend(entry[1])
    op, name = node.plan.spec.name, node.plan.name
    message = (
        f"{op}'s code changed while this run was in flight: this node ran the new code (code "
        f"hash {ran[:12]}, planned {planned.code_hash[:12]}), so its result is cached under "
        "the new code's key, never the planned one"
    )
    if node.error is None:  # a repair note, if any, stays
        node.error = note(message, planned.code_hash, ran, old)
    machine._logs.append(
        LogLine(run.record.id, name, machine._now, "stderr", f"[accio] {message}")
    )
    return True


def note(message: str, planned: str, ran: str, planned_key: str | None) -> dict[str, Any]:
    """The note a re-keyed node keeps, shaped like an error (as repair notes are)."""
    return {
        "classifier": "CodeChanged",
        "message": message,
        "stacktrace": "",
        "causes": [],
        "reason": CODE_CHANGED,
        "planned_code_hash": planned,
        "ran_code_hash": ran,
        "planned_key": planned_key,
    }
