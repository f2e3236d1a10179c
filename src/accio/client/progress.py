"""Progress in nodes and failure reasons, computed the same way for both clients.

A sweep's progress counted in children says 0 % while most of its nodes are done (children end
late, all together); counted in nodes it moves with the work. A failure is shown with its reason:
the first failed node's error, first line, so that nobody has to dig for it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from accio.states import TERMINAL_NODE_STATES

if TYPE_CHECKING:
    from accio.client.contract import AccioClient
    from accio.storage.records import NodeRecord, RunRecord

#: What users read, in display order, and the node states each word covers. A node that waits
#: for its inputs (pending) or for a worker (queued) is queued to a user: it is not running.
PROGRESS_GROUPS: dict[str, tuple[str, ...]] = {
    "done": ("success",),
    "cached": ("cached",),
    "running": ("running",),
    "queued": ("pending", "queued"),
    "failed": ("failed",),
    "skipped": ("skipped",),
    "cancelled": ("cancelled", "killed"),
}

#: Said when a run failed but none of its nodes did: the scheduler could not start it.
UNSTARTABLE = "no node failed: the scheduler could not start the run (see its log)"


def summarize(counts: Mapping[str, int]) -> dict[str, int]:
    """``{done, cached, running, queued, failed, skipped, cancelled, finished, total}`` from
    ``{node state: count}``; ``finished`` counts terminal nodes."""
    out = {word: sum(counts.get(s, 0) for s in states) for word, states in PROGRESS_GROUPS.items()}
    out["finished"] = sum(n for s, n in counts.items() if s in TERMINAL_NODE_STATES)
    out["total"] = sum(counts.values())
    return out


def progress_text(counts: Mapping[str, int]) -> str:
    """``460/560 nodes (82%): 400 done, 60 cached, 4 running, 96 queued``, or ``-``."""
    s = summarize(counts)
    if not s["total"]:
        return "-"
    parts = ", ".join(f"{s[w]} {w}" for w in PROGRESS_GROUPS if s[w])
    share = 100 * s["finished"] // s["total"]
    return f"{s['finished']}/{s['total']} nodes ({share}%): {parts}"


def short_progress(counts: Mapping[str, int]) -> str:
    """``82% 460/560`` for a table column, or ``-``."""
    s = summarize(counts)
    if not s["total"]:
        return "-"
    return f"{100 * s['finished'] // s['total']}% {s['finished']}/{s['total']}"


def shown_state(state: str, counts: Mapping[str, int]) -> str:
    """A run's state for people: a ``running`` run none of whose nodes has started is
    ``queued`` (a sweep child waiting for workers is not running yet)."""
    s = summarize(counts)
    if state == "running" and s["total"] and not s["running"] and not s["finished"]:
        return "queued"
    return state


def node_progress(client: AccioClient, run: RunRecord) -> dict[str, int]:
    """``{node state: count}`` of a run, or over every child of a sweep: one storage query
    (``child_node_counts`` per node name, summed here)."""
    if not run.is_parent:
        return client.node_counts(run.id)
    total: dict[str, int] = {}
    for per_state in client.child_node_counts(run.id).values():
        for state, n in per_state.items():
            total[state] = total.get(state, 0) + n
    return total


def error_first_line(node: NodeRecord) -> str:
    """A failed node's error as one line: ``Classifier: message`` (first line of the message)."""
    error: Any = node.error
    if error:
        with contextlib.suppress(ValueError):
            error = json.loads(error)
    if isinstance(error, dict):
        classifier = error.get("classifier")
        message = str(error.get("message", ""))
        text = f"{classifier}: {message}" if classifier else message
    else:
        text = str(error or node.state)
    lines = text.strip().splitlines()
    return lines[0] if lines else node.state


def failure_reason(client: AccioClient, run: RunRecord) -> str | None:
    """Why a failed or killed run ended: ``node NAME: reason`` (a sweep: of its first failed
    child, named); None for a run that did not fail."""
    if run.state not in ("failed", "killed"):
        return None
    if run.state == "killed":
        return "killed"
    target = run
    prefix = ""
    if run.is_parent:
        failed = client.runs(parent_id=run.id, states=("failed",), limit=1)
        if not failed:
            return "killed" if client.child_counts(run.id).get("killed") else UNSTARTABLE
        target = failed[0]
        prefix = f"child {target.name or target.id[:12]}: "
    for node in client.nodes(target.id):
        if node.state == "failed":
            return f"{prefix}node {node.name}: {error_first_line(node)}"
    return prefix + UNSTARTABLE


__all__ = [
    "PROGRESS_GROUPS",
    "failure_reason",
    "node_progress",
    "progress_text",
    "short_progress",
    "shown_state",
    "summarize",
]
