"""``accio describe run|node|workflow|operator ID``; workflows and operators are shown by
:mod:`accio.cli.commands.workflows`.

``describe run --json`` prints the REST API's ``RunDetailOut`` (``GET /runs/{id}``) with, for a
single run, ``nodes`` (``NodeDetailOut`` each, as ``GET /runs/{id}/nodes/{name}``) or, for a sweep
parent, its first ``children`` (``RunOut`` each). ``describe node --json`` is a ``NodeDetailOut``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands import workflows
from accio.cli.commands.common import (
    SHOWN_CHILDREN,
    add_json_flag,
    command,
    counts_text,
    duration,
    error_line,
    loads,
    open_client,
    resolve_run,
    split_node_id,
)
from accio.client.progress import progress_text
from accio.errors import EXIT_OK, AccioError, UsageError
from accio.storage.records import NodeRecord, RunRecord

if TYPE_CHECKING:
    from accio.client.contract import AccioClient
    from accio.client.models import RunDetailOut

DESCRIBE_WORDS: dict[str, str] = {
    "run": "runs",
    "runs": "runs",
    "node": "nodes",
    "nodes": "nodes",
    "workflow": "workflows",
    "workflows": "workflows",
    "operator": "operators",
    "operators": "operators",
    "op": "operators",
    "ops": "operators",
}


def register(subparsers: Any) -> None:
    describe = subparsers.add_parser(
        "describe",
        help="show one run, node, workflow or operator in detail",
        description="Describe a resource. A node is named <run id>/<node name>.",
    )
    describe.add_argument("type", metavar="TYPE", help="run, node, workflow or operator")
    describe.add_argument("id", metavar="ID", help="run id, run/node, workflow[:version], name")
    describe.add_argument("node", nargs="?", help=argparse.SUPPRESS)
    add_json_flag(describe)
    describe.set_defaults(handler=command(cmd_describe))


def cmd_describe(args: argparse.Namespace) -> int:
    kind = DESCRIBE_WORDS.get(args.type.lower())
    if kind is None:
        raise UsageError(
            f"unknown resource type {args.type!r}: expected run, node, workflow or operator"
        )
    if args.node is not None and kind != "nodes":
        raise UsageError(f"unexpected argument {args.node!r}")
    if kind == "workflows":
        return workflows.describe_workflow(args)
    if kind == "operators":
        return workflows.describe_operator(args)
    client = open_client(operators=False)
    if kind == "nodes":
        run_text, node_name = split_node_id(args.id, args.node)
        return describe_node(client, resolve_run(client, run_text), node_name, args.json)
    return describe_run(client, resolve_run(client, args.id), args.json)


def run_detail(client: AccioClient, run: RunRecord, children: Sequence[RunRecord]) -> RunDetailOut:
    """A run with its node or child state counts and its parameters' distinct values, as the
    REST API describes it."""
    from accio.client.models import RunDetailOut, run_out, typed_values
    from accio.client.progress import failure_reason, node_progress

    detail = RunDetailOut(**run_out(run).model_dump())
    if run.is_parent:
        detail.child_counts = client.child_counts(run.id)
        values: dict[str, list[str]] = {}
        for child in children:
            for name, typed in typed_values(child.params).items():
                seen = values.setdefault(name, [])
                if typed.text not in seen:
                    seen.append(typed.text)
        detail.param_values = values
        starts = [c.started for c in children if c.started is not None]
        if (
            detail.started is None and starts
        ):  # a parent has no nodes: its times are its children's
            detail.started = min(starts)
    else:
        detail.node_counts = client.node_counts(run.id)
        detail.param_values = {k: [v.text] for k, v in detail.params.items()}
    detail.node_progress = node_progress(client, run)
    detail.failure_reason = failure_reason(client, run)
    return detail


@dataclass
class _Summary:
    """What the text view shows beyond the record (``RunDetailOut``'s fields, without pydantic:
    a third of the command's start-up)."""

    started: float | None
    completed: float | None
    param_values: dict[str, list[str]]
    node_progress: dict[str, int]
    failure_reason: str | None
    child_counts: dict[str, int]


def _summary(client: AccioClient, run: RunRecord, children: Sequence[RunRecord]) -> _Summary:
    from accio.client.progress import failure_reason, node_progress

    values: dict[str, list[str]] = {}
    for params in dict.fromkeys(c.params for c in children or [run]):
        for name, text in _rendered(params).items():
            seen = values.setdefault(name, [])
            if text not in seen:
                seen.append(text)
    starts = [c.started for c in children if c.started is not None]
    started = run.started if run.started is not None or not starts else min(starts)
    return _Summary(
        started,
        run.completed,
        values,
        node_progress(client, run),
        failure_reason(client, run),
        client.child_counts(run.id) if run.is_parent else {},
    )


def _rendered(params: str) -> dict[str, str]:
    """``{name: text}`` of stored ``{name: {"type", "value"}}`` (as ``TypedValueOut.text``)."""
    from accio.values.canonical import from_canonical
    from accio.values.render import render
    from accio.values.types import parse_type

    out_: dict[str, str] = {}
    data = loads(params)
    for name, typed in data.items() if isinstance(data, dict) else ():
        try:
            dtype = parse_type(str(typed.get("type")))
            out_[str(name)] = render(dtype, from_canonical(dtype, typed.get("value")))
        except (AccioError, AttributeError):
            out_[str(name)] = json.dumps(typed.get("value") if isinstance(typed, dict) else typed)
    return out_


def describe_run(client: AccioClient, run: RunRecord, as_json: bool) -> int:
    children = client.children(run.id) if run.is_parent else []
    nodes = [] if run.is_parent else client.nodes(run.id)
    if as_json:
        from accio.client.models import node_detail_out, run_out

        data = run_detail(client, run, children).model_dump(mode="json")
        if run.is_parent:
            data["children"] = [
                run_out(c).model_dump(mode="json") for c in children[:SHOWN_CHILDREN]
            ]
        else:
            data["nodes"] = [node_detail_out(n).model_dump(mode="json") for n in nodes]
        out.print_json(data)
        return EXIT_OK
    detail = _summary(client, run, children)
    fields: list[tuple[str, Any]] = [("Id", run.id)]
    if run.parent_id:
        fields.append(("Parent Id", run.parent_id))
    fields += [
        ("Workflow", f"{run.workflow_id}:{run.workflow_version[:12]}"),
        ("Created", out.format_time(run.created)),
        ("Owner", run.owner),
        ("Name", run.name or "<no name>"),
    ]
    meta = client.run(run.parent_id) if run.parent_id else run  # a child shares its parent's
    fields += [
        ("Notes", meta.notes or "<none>"),
        ("Tags", ", ".join(meta.tags) or "<none>"),
        ("Seed", run.seed),
        ("State", run.state),
    ]
    fields.append(("Progress", progress_text(detail.node_progress)))
    if detail.failure_reason:
        fields.append(("Reason", detail.failure_reason))
    took = duration(detail.started, detail.completed)
    if detail.started is not None and detail.completed is None:
        took = time.time() - detail.started
    fields += [
        ("Started", out.format_time(detail.started)),
        ("Completed", out.format_time(detail.completed)),
        ("Duration", out.format_duration(took)),
    ]
    out.print_fields(fields)
    out.print_line()
    out.print_line("Parameters")
    params = detail.param_values
    width = max((len(k) for k in params), default=0) + 2
    for name, values in params.items():
        shown = values if len(values) <= 6 else [*values[:5], f"<{len(values) - 5} more>"]
        out.print_line(f"  {name:<{width}}{', '.join(shown)}")
    if not params:
        out.print_line("  <none>")
    out.print_line()
    if run.is_parent:
        _print_children(client, run, children, detail.child_counts)
    else:
        _print_nodes(nodes)
    return EXIT_OK


def _print_children(
    client: AccioClient, run: RunRecord, children: Sequence[RunRecord], counts: dict[str, int]
) -> None:
    from accio.client.progress import short_progress, shown_state

    out.print_line(f"Children       {run.n_children}: {counts_text(counts)}")
    out.print_line()
    rows = []
    for c in children[:SHOWN_CHILDREN]:
        nodes = client.node_counts(c.id)
        state = shown_state(c.state, nodes)  # nothing of it started yet: it waits for workers
        rows.append([c.child_index, c.id, c.name or "<no name>", state, short_progress(nodes)])
    out.print_table(["#", "id", "name", "state", "nodes"], rows, title="Child Runs")
    if len(children) > SHOWN_CHILDREN:
        out.print_line(
            f"{len(children) - SHOWN_CHILDREN} more...: accio get runs --parent {run.id[:12]}"
        )


def _print_nodes(nodes: Sequence[NodeRecord]) -> None:
    def when(n: NodeRecord) -> tuple[bool, float, int]:
        return (n.started is None, n.started or 0.0, n.position)

    rows = []
    for n in sorted(nodes, key=when):
        if n.state == "cached":
            source = f" (run {n.cache_source[:12]})" if n.cache_source else ""
            took = f"<cache hit>{source}"
        else:
            took = out.format_duration(duration(n.started, n.completed))
        error = error_line(n) if n.state in ("failed", "killed") and n.error else ""
        rows.append([n.name, n.op, n.state, n.attempts, took, ran_on_text(n), error])
    headers = ["name", "op", "state", "attempts", "duration", "ran on", "error"]
    out.print_table(headers, rows, title="Nodes")


def ran_on_text(n: NodeRecord) -> str:
    """Where a node ran (batch job or host and pid); "cache" for a hit, which ran nowhere."""
    return n.ran_on or ("cache" if n.state == "cached" else "-")


def describe_node(client: AccioClient, run: RunRecord, name: str, as_json: bool) -> int:
    from accio.client.models import node_detail_out

    node = client.node(run.id, name)
    detail = node_detail_out(node)
    if as_json:
        out.print_json(detail.model_dump(mode="json"))
        return EXIT_OK
    seed = "- (stable operator: no seed)" if node.seed is None else node.seed
    fields: list[tuple[str, Any]] = [
        ("Run", run.id),
        ("Node", node.name),
        ("Operator", node.op),
        ("State", node.state),
        ("Attempts", node.attempts),
        ("Queued", out.format_time(node.queued_at)),
        ("Started", out.format_time(node.started)),
        ("Completed", out.format_time(node.completed)),
        ("Duration", out.format_duration(detail.duration)),
        ("Ran on", ran_on_text(node)),
        ("Cache key", node.cache_key or "-"),
        ("Seed", seed),
    ]
    if node.state == "cached":
        fields.append(("Cache hit", f"outputs of run {node.cache_source}"))
    out.print_fields(fields)
    if detail.outputs:
        out.print_line()
        out.print_line("Outputs")
        width = max(len(k) for k in detail.outputs) + 2
        for port, typed in detail.outputs.items():
            out.print_line(f"  {port:<{width}}{typed.text} ({typed.type})")
    _print_error(loads(node.error))
    return EXIT_OK


def _print_error(error: Any) -> None:
    if not error:
        return
    out.print_line()
    out.print_line("Error")
    if not isinstance(error, dict):
        out.print_line(f"  {error}")
        return
    out.print_fields(
        [("  Classifier", error.get("classifier", "-")), ("  Message", error.get("message", ""))]
    )
    for cause in error.get("causes") or []:
        out.print_line(f"  Caused by      {cause.get('classifier')}: {cause.get('message')}")
    trace = error.get("stacktrace")
    if trace:
        out.print_line("  Stack trace")
        for line in str(trace).rstrip().splitlines():
            out.print_line(f"    {line}")
