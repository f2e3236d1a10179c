"""Why a run could not start, written on its nodes (``accio describe run`` shows node errors).

A run whose plan cannot be built (an operator no loaded plugin declares, a plugin that failed to
import, a workflow gone from storage) is failed by the state machine without ever loading its
nodes; without this, it would read "failed" with every node pending and no message.
"""

from __future__ import annotations

from typing import Any

from accio.engine.writer import Batch
from accio.ops.registry import OperatorRegistry
from accio.states import TERMINAL_NODE_STATES
from accio.storage.base import Storage
from accio.storage.records import RunRecord


def unstartable_nodes(
    storage: Storage, record: RunRecord, reason: str, registry: OperatorRegistry, now: float
) -> Batch:
    """The unfinished nodes of ``record`` as ended: those whose operator is unknown (every one
    when none is) failed with ``reason``, the others skipped behind them."""
    nodes = [n for n in storage.get_nodes(record.id) if n.state not in TERMINAL_NODE_STATES]
    unknown = {n.name for n in nodes if n.op not in registry}
    error: dict[str, Any] = {
        "classifier": "UnknownOperator" if unknown else "Unstartable",
        "message": reason,
        "stacktrace": "",
        "causes": [],
    }
    batch = Batch()
    for n in nodes:
        failed = n.name in unknown or not unknown
        batch.nodes.append(
            (
                n.run_id,
                n.name,
                n.op,
                "failed" if failed else "skipped",
                n.cache_key,
                n.seed,
                n.attempts,
                n.queued_at,
                n.started,
                now,
                error if failed else None,
                n.outputs,
                n.cache_source,
                n.position,
                n.ran_on,
            )
        )
    return batch
