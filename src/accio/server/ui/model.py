"""What the pages show, computed from an :class:`~accio.client.contract.AccioClient`.

Everything a page needs is bounded by its page size, except the tallies of a sweep parent,
which the storage aggregates (one ``GROUP BY`` each on SQL, behind ``child_counts`` and
``child_node_counts``), so that the page of a 10^4-child sweep costs a few queries, not 10^4.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from markupsafe import Markup

from accio.client.contract import AccioClient
from accio.client.figures import Figures
from accio.definitions.model import Workflow
from accio.errors import AccioError
from accio.server.ui.graph import NodeBadge
from accio.states import ALL_NODE_STATES, ALL_RUN_STATES, TERMINAL_RUN_STATES
from accio.storage.records import NodeRecord, RunRecord
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import parse_type

PAGE_SIZE = 50


# ----------------------------------------------------------------------------- formatting
def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_duration(run: RunRecord | NodeRecord) -> float | None:
    if run.started is None:
        return None
    end = run.completed if run.completed is not None else time.time()
    return max(0.0, end - run.started)


def finished(run: RunRecord) -> bool:
    return run.state in TERMINAL_RUN_STATES


def title(run: RunRecord) -> str:
    return run.name or run.id[:12]


# ----------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Shown:
    """A typed value rendered for humans (``full`` is the untruncated JSON, for a tooltip)."""

    name: str
    type: str
    text: str
    full: str
    raw: Any = None  # the canonical value (a dataset's reference, for its preview link)


def render_typed(name: str, typed: Mapping[str, Any]) -> Shown:
    type_text = str(typed.get("type", ""))
    raw = typed.get("value")
    full = json.dumps(raw, ensure_ascii=False)
    try:
        dtype = parse_type(type_text)
        text = render(dtype, from_canonical(dtype, raw))
    except (AccioError, ValueError, TypeError, KeyError):
        text = full
    return Shown(name, type_text, text, full if len(full) <= 2000 else full[:2000] + "…", raw)


def render_value(dtype: Any, value: Any) -> str:
    """A typed Python value in the canonical text form (``4.hours``, not ``Duration(...)``)."""
    try:
        return render(dtype, value)
    except (AccioError, ValueError, TypeError, KeyError, AttributeError):
        return json.dumps(value, ensure_ascii=False, default=str)


def render_default(param: Any) -> str:
    """A workflow parameter's default as a run document would write it."""
    return render_value(param.kind, param.default)


def render_constant(registry: Any, op: str, port: str, value: Any) -> str:
    """A constant input of a node, typed by its operator's port declaration."""
    spec = registry.get(op) if registry is not None else None
    declared = spec.input(port) if spec is not None else None
    if declared is None:
        return json.dumps(value, ensure_ascii=False, default=str)
    return render_value(declared.dtype, value)


def render_params(params_json: str) -> list[Shown]:
    try:
        params = json.loads(params_json or "{}")
    except ValueError:
        return []
    return [render_typed(k, v) for k, v in params.items() if isinstance(v, dict)]


def render_outputs(node: NodeRecord) -> list[Shown]:
    if not node.outputs:
        return []
    try:
        outputs = json.loads(node.outputs)
    except ValueError:
        return []
    return [render_typed(k, v) for k, v in outputs.items() if isinstance(v, dict)]


def error_message(node: NodeRecord) -> str:
    if not node.error:
        return ""
    try:
        error = json.loads(node.error)
    except ValueError:
        return node.error
    if isinstance(error, dict):
        head = str(error.get("message") or "")
        kind = error.get("classifier") or error.get("type")
        return f"{kind}: {head}" if kind else head or json.dumps(error)
    return str(error)


@dataclass(frozen=True)
class SweptParam:
    name: str
    first: str
    last: str


def sweep_summary(
    client: AccioClient, parent: RunRecord
) -> tuple[list[SweptParam], list[Shown], int]:
    """Swept parameters (first → last value), constants and repeats of a sweep, from its first
    and last child only: children run in mixed-radix order, so every parameter with more than
    one value differs between them."""
    first = client.children(parent.id, limit=1)
    last = client.children(parent.id, limit=1, offset=max(parent.n_children - 1, 0))
    if not first or not last:
        return [], [], 1
    a = {p.name: p for p in render_params(first[0].params)}
    b = {p.name: p for p in render_params(last[0].params)}
    swept = [SweptParam(n, a[n].text, b[n].text) for n in a if n in b and a[n].full != b[n].full]
    constants = [p for n, p in a.items() if n not in {s.name for s in swept}]
    return swept, constants, last[0].repeat_index + 1


# ----------------------------------------------------------------------------- tallies
def _ordered(counts: Mapping[str, int], order: tuple[str, ...]) -> dict[str, int]:
    known = {s: counts[s] for s in order if counts.get(s)}
    known.update({s: n for s, n in counts.items() if s not in known and n})
    return known


def child_state_counts(client: AccioClient, parent_id: str) -> dict[str, int]:
    """``{run state: children in it}`` of a sweep parent, in lifecycle order."""
    return _ordered(client.child_counts(parent_id), ALL_RUN_STATES)


def child_node_counts(client: AccioClient, parent_id: str) -> dict[str, dict[str, int]]:
    """``{node name: {node state: children in which the node is in it}}`` of a sweep parent."""
    per_node = client.child_node_counts(parent_id)
    return {k: _ordered(v, ALL_NODE_STATES) for k, v in per_node.items()}


def node_totals(per_node: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_node.values():
        for state, n in counts.items():
            total[state] = total.get(state, 0) + n
    return _ordered(total, ALL_NODE_STATES)


DONE = ("success", "cached")


def aggregate_state(counts: Mapping[str, int]) -> str:
    """One state summing up a node over all children (for the colour of the graph)."""
    total = sum(counts.values())
    if counts.get("failed"):
        return "failed"
    if counts.get("running"):
        return "running"
    if total and sum(counts.get(s, 0) for s in DONE) == total:
        return "cached" if counts.get("cached") == total else "success"
    if counts.get("killed") or counts.get("cancelled"):
        return "killed"
    if counts.get("queued") or any(counts.get(s) for s in DONE):
        return "queued"
    return "pending"


def parent_badges(per_node: Mapping[str, Mapping[str, int]]) -> dict[str, NodeBadge]:
    badges = {}
    for name, counts in per_node.items():
        total = sum(counts.values())
        done = sum(counts.get(s, 0) for s in DONE)
        badges[name] = NodeBadge(aggregate_state(counts), f"{done}/{total}")
    return badges


def node_badges(nodes: list[NodeRecord]) -> dict[str, NodeBadge]:
    return {n.name: NodeBadge(n.state, n.state) for n in nodes}


# ----------------------------------------------------------------------------- search
def parse_search(q: str) -> dict[str, Any]:
    """``owner:NAME``, ``workflow:ID`` (or ``wf:``) and ``tag:TAG`` words become filters; the
    other words search names, notes and tags (FTS word prefixes)."""
    filters: dict[str, Any] = {}
    tags: list[str] = []
    words: list[str] = []
    for word in q.split():
        key, sep, value = word.partition(":")
        if sep and value and key.lower() in ("owner", "workflow", "wf", "tag"):
            if key.lower() == "owner":
                filters["owner"] = value
            elif key.lower() == "tag":
                tags.append(value)
            else:
                filters["workflow"] = value
        else:
            words.append(word)
    if tags:
        filters["tags"] = tuple(tags)
    if words:
        filters["text"] = " ".join(words)
    return filters


# ----------------------------------------------------------------------------- caches
class Caches:
    """Immutable things worth keeping: workflow versions and figures of finished sweeps."""

    def __init__(self, size: int = 16) -> None:
        self._lock = threading.Lock()
        self._workflows: OrderedDict[str, Workflow | None] = OrderedDict()
        self._results: OrderedDict[tuple[str, float | None], pa.Table] = OrderedDict()
        self._figures: OrderedDict[tuple[str, float | None], Figures] = OrderedDict()
        self._size = size

    def workflow(self, client: AccioClient, wf_id: str, version: str) -> Workflow | None:
        spec = f"{wf_id}:{version}"
        with self._lock:
            if spec in self._workflows:
                return self._workflows[spec]
        try:
            wf: Workflow | None = client.workflow(spec)
        except AccioError:
            wf = None
        with self._lock:
            self._workflows[spec] = wf
            while len(self._workflows) > self._size * 8:
                self._workflows.popitem(last=False)
        return wf

    def results(self, client: AccioClient, run: RunRecord) -> pa.Table:
        """``results()`` of a run, kept while the run is finished and unchanged."""
        if not finished(run):
            return client.results(run.id)
        key = (run.id, run.completed)
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        table = client.results(run.id)
        with self._lock:
            self._results[key] = table
            while len(self._results) > self._size:
                self._results.popitem(last=False)
        return table

    def figures(self, client: AccioClient, run: RunRecord) -> Figures:
        """The run's :class:`~accio.client.figures.Figures`, kept like its results."""
        key = (run.id, run.completed)
        if finished(run):
            with self._lock:
                if key in self._figures:
                    self._figures.move_to_end(key)
                    return self._figures[key]
        workflow = self.workflow(client, run.workflow_id, run.workflow_version)
        figs = Figures.from_table(self.results(client, run), workflow, client.registry)
        if finished(run):
            with self._lock:
                self._figures[key] = figs
                while len(self._figures) > self._size:
                    self._figures.popitem(last=False)
        return figs


def csrf_input(request: Any) -> Markup:
    """The hidden CSRF field of a state-changing form (nothing without authentication)."""
    token = str(request.scope.get("accio.csrf", ""))
    if not token:
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)
