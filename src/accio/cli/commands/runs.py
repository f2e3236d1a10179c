"""Run commands: submit, get/list, describe, logs, kill, delete, edit, explain.

``get`` and ``describe`` take a type word (cli.md §2); their workflow and operator views live in
:mod:`accio.cli.commands.workflows`. One parser per command (not one per type) keeps the
original's "flags and arguments in any order" working: ``accio get -all runs``.

Run ids may be abbreviated to a unique prefix of at least 6 characters, as shown by listings.
"""

from __future__ import annotations

import argparse
import json
import string
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands import workflows
from accio.cli.commands.workflows import open_client
from accio.cli.lookup import add_run_arguments, run_from_arguments
from accio.errors import EXIT_OK, EXIT_RUNTIME, AccioError, NotFoundError, UsageError
from accio.storage.records import (
    ALL_RUN_STATES,
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    RunsFilter,
)
from accio.values.canonical import from_canonical
from accio.values.render import render
from accio.values.types import parse_type

if TYPE_CHECKING:
    from accio.client.client import Client, NodeExplanation, Submission

#: Shortest accepted run id prefix; listings show 12 characters.
MIN_PREFIX = 6
#: Children listed by ``describe run`` on a parent, and created runs listed by ``submit``.
SHOWN_CHILDREN = 20
#: ``logs --follow`` polling period in seconds.
FOLLOW_POLL = 0.5
LOG_STREAMS: tuple[LogStream, ...] = ("stdout", "stderr")
FINISHED = frozenset({"success", "failed", "killed"})
NODE_TERMINAL = frozenset({"cached", "success", "failed", "killed", "skipped", "cancelled"})

TYPE_WORDS: dict[str, str] = {
    "run": "runs",
    "runs": "runs",
    "workflow": "workflows",
    "workflows": "workflows",
    "operator": "operators",
    "operators": "operators",
    "op": "operators",
    "ops": "operators",
}
DESCRIBE_WORDS: dict[str, str] = {**TYPE_WORDS, "node": "nodes", "nodes": "nodes"}


def register(subparsers: Any) -> None:
    submit = subparsers.add_parser(
        "submit",
        help="create a run (or a parameter sweep) and hand it to the scheduler",
        description="Submit a run: a run definition file, inline JSON, or a workflow "
        "id[:version], followed by name=value parameter overrides. Flags replace the file's "
        "name, notes, repeat and seed; --tags adds tags. The workflow cannot be overridden.",
    )
    add_run_arguments(submit)
    submit.add_argument("--wait", action="store_true", help="follow the run until it finishes")
    submit.add_argument("--quiet", action="store_true", help="print only the created run ids")
    submit.add_argument("--json", action="store_true", help="machine-readable output")
    submit.add_argument(
        "--no-start", action="store_true", help="do not start the scheduler in the background"
    )
    submit.set_defaults(handler=cmd_submit)

    get = subparsers.add_parser(
        "get",
        help="list runs, workflows or operators",
        description="List resources: runs (newest first), workflows or operators.",
    )
    get.add_argument("type", metavar="TYPE", help="runs, workflows or operators (or op, ops)")
    _add_listing_flags(get)
    get.set_defaults(handler=cmd_get)

    listing = subparsers.add_parser("list", help="list runs (same as 'accio get runs')")
    _add_listing_flags(listing)
    listing.set_defaults(handler=cmd_get, type="runs")

    describe = subparsers.add_parser(
        "describe",
        help="show one run, node, workflow or operator in detail",
        description="Describe a resource. A node is named <run id>/<node name>.",
    )
    describe.add_argument("type", metavar="TYPE", help="run, node, workflow or operator")
    describe.add_argument("id", metavar="ID", help="run id, run/node, workflow[:version], name")
    describe.add_argument("node", nargs="?", help=argparse.SUPPRESS)
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.set_defaults(handler=cmd_describe)

    logs = subparsers.add_parser(
        "logs",
        help="print what a node wrote to stdout and stderr",
        description="Print a node's log lines, oldest first.",
    )
    logs.add_argument("run", metavar="RUN", help="run id (or RUN/NODE)")
    logs.add_argument("node", metavar="NODE", nargs="?", help="node name")
    logs.add_argument("-n", type=int, default=None, metavar="N", help="only the last N lines")
    for stream in ("stdout", "stderr"):
        logs.add_argument(
            f"--{stream}",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"include {stream} lines (default: yes)",
        )
        logs.add_argument(
            f"--no{stream}", dest=stream, action="store_false", help=argparse.SUPPRESS
        )
    logs.add_argument("-f", "--follow", action="store_true", help="wait for new lines")
    logs.add_argument("--json", action="store_true", help="machine-readable output")
    logs.set_defaults(handler=cmd_logs)

    kill = subparsers.add_parser(
        "kill",
        help="stop runs (a parent stops all its children)",
        description="Kill runs: running nodes are killed, the others cancelled.",
    )
    kill.add_argument("runs", nargs="+", metavar="RUN")
    kill.set_defaults(handler=cmd_kill)

    delete = subparsers.add_parser(
        "delete",
        help="delete runs with their nodes and logs",
        description="Delete runs: 'accio delete run RUN...'. A parent takes its children along.",
    )
    delete.add_argument("type", metavar="TYPE", help="run (the only deletable type)")
    delete.add_argument("runs", nargs="*", metavar="RUN")
    delete.set_defaults(handler=cmd_delete)

    edit = subparsers.add_parser(
        "edit",
        help="change a run's name, notes or tags",
        description="Edit run metadata. A child has no metadata of its own: editing it edits "
        "its parent (its generated name never changes).",
    )
    edit.add_argument("run", metavar="RUN")
    edit.add_argument("--name", help="new name ('' clears it)")
    edit.add_argument("--notes", help="new notes ('' clears them)")
    edit.add_argument("--tags", help="comma-separated tags replacing the current ones")
    edit.add_argument("--add-tag", action="append", default=[], metavar="TAG", help="add a tag")
    edit.add_argument(
        "--remove-tag", action="append", default=[], metavar="TAG", help="remove a tag"
    )
    edit.add_argument("--json", action="store_true", help="machine-readable output")
    edit.set_defaults(handler=cmd_edit)

    explain = subparsers.add_parser(
        "explain",
        help="say why each node was a cache hit or was executed",
        description="For each node: a cache hit (and from which run), or what changed since "
        "the closest earlier execution of the same operator.",
    )
    explain.add_argument("run", metavar="RUN")
    explain.add_argument("node", metavar="NODE", nargs="?")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(handler=cmd_explain)


def _add_listing_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workflow", help="runs of this workflow id")
    parser.add_argument(
        "--tag",
        "--tags",
        dest="tags",
        action="append",
        default=[],
        help="runs carrying this tag (repeat or comma-separate: all must match)",
    )
    parser.add_argument("--owner", help="exact owner")
    parser.add_argument(
        "--state",
        dest="states",
        action="append",
        default=[],
        help=f"runs in this state (repeatable): {', '.join(ALL_RUN_STATES)}",
    )
    parser.add_argument("--text", "-q", help="words matched against names, notes and tags")
    parser.add_argument("--parent", metavar="RUN", help="children of this sweep")
    parser.add_argument("--limit", "-n", type=int, default=20, help="show at most N (default 20)")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N")
    parser.add_argument(
        "--all", action="store_true", help="include deprecated operators and inactive workflows"
    )
    parser.add_argument("--wide", action="store_true", help="full ids and versions")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


# -- shared helpers --------------------------------------------------------------------------


def resolve_run(client: Client, text: str) -> RunRecord:
    """A run by id or unique id prefix (>= 6 hex characters); NotFoundError otherwise."""
    text = text.strip()
    try:
        return client.run(text)
    except NotFoundError:
        pass
    lowered = text.lower()
    if MIN_PREFIX <= len(lowered) < 32 and all(c in string.hexdigits for c in lowered):
        ids = _ids_with_prefix(client, lowered)
        if len(ids) == 1:
            return client.run(ids[0])
        if len(ids) > 1:
            raise UsageError(f"ambiguous run id {text!r}: matches {', '.join(ids[:3])}...")
    raise NotFoundError(f"no such run: {text}")


def _ids_with_prefix(client: Client, prefix: str) -> list[str]:
    return client.run_ids_with_prefix(prefix, limit=2)


def render_typed(typed: Any) -> str:
    """A stored ``{"type", "value"}`` as types.md §4 renders it."""
    try:
        dtype = parse_type(typed["type"])
        return render(dtype, from_canonical(dtype, typed["value"]))
    except (AccioError, KeyError, TypeError):
        return json.dumps(typed.get("value") if isinstance(typed, dict) else typed, default=str)


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_json(r: RunRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "parent_id": r.parent_id,
        "workflow_id": r.workflow_id,
        "workflow_version": r.workflow_version,
        "name": r.name,
        "notes": r.notes,
        "tags": list(r.tags),
        "owner": r.owner,
        "created": r.created,
        "seed": r.seed,
        "params": _loads(r.params) or {},
        "repeat_index": r.repeat_index,
        "child_index": r.child_index,
        "state": r.state,
        "progress": r.progress,
        "started": r.started,
        "completed": r.completed,
        "n_children": r.n_children,
    }


def node_json(n: NodeRecord) -> dict[str, Any]:
    return {
        "run_id": n.run_id,
        "name": n.name,
        "op": n.op,
        "state": n.state,
        "attempts": n.attempts,
        "cache_key": n.cache_key,
        "cache_source": n.cache_source,
        "seed": n.seed,
        "queued_at": n.queued_at,
        "started": n.started,
        "completed": n.completed,
        "duration": _duration(n.started, n.completed),
        "error": _loads(n.error),
        "outputs": _loads(n.outputs),
    }


def _duration(started: float | None, completed: float | None) -> float | None:
    if started is None or completed is None:
        return None
    return max(0.0, completed - started)


def _run_name(r: RunRecord) -> str:
    name = r.name or "<no name>"
    return f"({r.n_children}) {name}" if r.is_parent else name


def _percent(progress: float) -> str:
    return f"{progress * 100:.0f}%"


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "-"


def _child_counts(client: Client, parent_id: str) -> dict[str, int]:
    return {
        state: client.count_runs(RunsFilter(parent_id=parent_id, states=(state,)))
        for state in ALL_RUN_STATES
    }


def _node_counts(client: Client, run_id: str) -> dict[str, int]:
    return client.node_counts(run_id)


# -- submit ----------------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace) -> int:
    run = run_from_arguments(args)
    client = open_client(autostart=not args.no_start)
    sub = client.submit(run, workflow_file=args.workflow_file)
    out.warn(sub.warnings)
    if args.quiet:
        for run_id in sub.run_ids:
            out.print_line(run_id)
    elif not args.json:
        _print_created(sub)
    if not args.wait:
        if args.json:
            out.print_json(_submission_json(sub))
        return EXIT_OK
    final = _follow(client, sub, show=not (args.quiet or args.json))
    if args.json:
        out.print_json({**_submission_json(sub), "state": final.state})
    elif not args.quiet:
        _print_outcome(client, final)
    return EXIT_OK if final.state == "success" else EXIT_RUNTIME


def _print_created(sub: Submission) -> None:
    if sub.child_ids:
        out.print_line(f"Created run {sub.run_id} (parent of {len(sub.child_ids)} children)")
        for child in sub.child_ids[:SHOWN_CHILDREN]:
            out.print_line(f"Created run {child}")
        hidden = len(sub.child_ids) - SHOWN_CHILDREN
        if hidden > 0:
            out.print_line(
                f"... and {hidden} more children: accio get runs --parent {sub.run_id[:12]}"
            )
        out.print_line(f"Created {len(sub.run_ids)} runs successfully")
    else:
        out.print_line(f"Created run {sub.run_id}")
    if not sub.seed_given:
        out.print_line(f"Seed: {sub.seed} (random; reuse with --seed={sub.seed})")


def _submission_json(sub: Submission) -> dict[str, Any]:
    return {
        "run_id": sub.run_id,
        "child_ids": list(sub.child_ids),
        "workflow": sub.workflow.id,
        "workflow_version": sub.workflow.version,
        "seed": sub.seed,
        "seed_given": sub.seed_given,
        "warnings": [w.render() for w in sub.warnings],
    }


def _follow(client: Client, sub: Submission, *, show: bool) -> RunRecord:
    """Wait for the run, with a live progress bar on a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not show or not console.is_terminal:
        return client.wait(sub.run_id, poll=0.2)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    unit = "children" if sub.child_ids else "nodes"
    last = 0.0
    with Progress(
        TextColumn(f"[bold]{unit}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[states]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(unit, total=None, states="")

        def update(record: RunRecord) -> None:
            nonlocal last
            if time.time() - last < 0.25 and record.state not in FINISHED:
                return
            last = time.time()
            if record.is_parent:
                counts = _child_counts(client, record.id)
                done = sum(counts[s] for s in FINISHED)
                total = record.n_children
            else:
                counts = _node_counts(client, record.id)
                done = sum(n for s, n in counts.items() if s in NODE_TERMINAL)
                total = sum(counts.values())
            progress.update(task, completed=done, total=total, states=_counts_text(counts))

        return client.wait(sub.run_id, poll=0.1, on_progress=update)


def _print_outcome(client: Client, final: RunRecord) -> None:
    if final.is_parent:
        counts = _counts_text(_child_counts(client, final.id))
        what = f"{final.n_children} children: {counts}"
    else:
        what = f"nodes: {_counts_text(_node_counts(client, final.id))}"
    took = _duration(final.created, final.completed)
    out.print_line(f"Run {final.id} {final.state} ({what}) in {out.format_duration(took)}")
    if final.state == "success":
        return
    if final.is_parent:
        failed = client.runs(RunsFilter(parent_id=final.id, states=("failed", "killed"), limit=1))
        if failed:
            _report_failed_nodes(client, failed[0])
        out.error([f"run {final.id} {final.state}: see 'accio describe run {final.id[:12]}'"])
    else:
        _report_failed_nodes(client, final)


def _report_failed_nodes(client: Client, run: RunRecord) -> None:
    for node in client.nodes(run.id):
        if node.state == "failed":
            out.error([f"run {run.id[:12]} node {node.name} failed: {_error_line(node)}"])


def _error_line(node: NodeRecord) -> str:
    error = _loads(node.error)
    if isinstance(error, dict):
        classifier = error.get("classifier")
        message = error.get("message", "")
        return f"{classifier}: {message}" if classifier else str(message)
    return str(error or node.state)


# -- get / list ------------------------------------------------------------------------------


def cmd_get(args: argparse.Namespace) -> int:
    kind = TYPE_WORDS.get(args.type.lower())
    if kind is None:
        raise UsageError(
            f"unknown resource type {args.type!r}: expected runs, workflows or operators"
        )
    if args.limit < 0 or args.offset < 0:
        raise UsageError("--limit and --offset must be >= 0")
    if kind != "runs":
        used = [
            flag
            for flag, value in (
                ("--workflow", args.workflow),
                ("--tag", args.tags),
                ("--state", args.states),
                ("--parent", args.parent),
            )
            if value
        ]
        if used:
            raise UsageError(f"{', '.join(used)}: these filters apply to runs only, not to {kind}")
    if kind == "workflows":
        return workflows.get_workflows(args)
    if kind == "operators":
        return workflows.get_operators(args)
    return get_runs(args)


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))


def get_runs(args: argparse.Namespace) -> int:
    states = _split(args.states)
    unknown = [s for s in states if s not in ALL_RUN_STATES]
    if unknown:
        raise UsageError(
            f"unknown state {unknown[0]!r}: expected one of {', '.join(ALL_RUN_STATES)}"
        )
    client = open_client(operators=False)
    parent = resolve_run(client, args.parent).id if args.parent else None
    f = RunsFilter(
        workflow=args.workflow,
        tags=_split(args.tags),
        owner=args.owner,
        states=states,
        text=args.text,
        parent_id=parent,
        limit=args.limit,
        offset=args.offset,
    )
    other_filters = f.workflow or f.tags or f.owner or states or f.text
    if parent is not None and not other_filters:  # children read best in expansion order
        runs = client.children(parent, limit=args.limit, offset=args.offset)
    else:
        runs = client.runs(f)
    if args.json:
        out.print_json([run_json(r) for r in runs])
        return EXIT_OK
    total = client.count_runs(f)
    out.print_table(
        ["id", "workflow", "created", "name", "state", "progress"],
        (
            [
                r.id if args.wide else r.id[:12],
                r.workflow_id,
                out.relative_time(r.created),
                _run_name(r),
                r.state,
                _percent(r.progress),
            ]
            for r in runs
        ),
    )
    more = total - args.offset - len(runs)
    if more > 0:
        out.print_line(f"{more} more...")
    return EXIT_OK


# -- describe --------------------------------------------------------------------------------


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
        run_text, node_name = _split_node_id(args.id, args.node)
        return describe_node(client, resolve_run(client, run_text), node_name, args.json)
    return describe_run(client, resolve_run(client, args.id), args.json)


def _split_node_id(text: str, node: str | None) -> tuple[str, str]:
    if node is not None:
        return text, node
    run_text, sep, name = text.partition("/")
    if not sep or not run_text or not name:
        raise UsageError(f"a node is named <run id>/<node name>, got {text!r}")
    return run_text, name


def describe_run(client: Client, run: RunRecord, as_json: bool) -> int:
    children = client.children(run.id) if run.is_parent else []
    nodes = [] if run.is_parent else client.nodes(run.id)
    started, completed = run.started, run.completed
    if run.is_parent and children:  # a parent has no nodes: its times are its children's
        starts = [c.started for c in children if c.started is not None]
        started = started or (min(starts) if starts else None)
    params = _params_of(run, children)
    if as_json:
        data: dict[str, Any] = {
            "run": run_json(run),
            "params": {k: ", ".join(v) for k, v in params.items()},
        }
        if run.is_parent:
            data["children"] = {
                "total": run.n_children,
                "counts": dict(Counter(c.state for c in children)),
                "first": [run_json(c) for c in children[:SHOWN_CHILDREN]],
            }
        else:
            data["nodes"] = [node_json(n) for n in nodes]
        out.print_json(data)
        return EXIT_OK
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
    if run.state not in FINISHED:
        fields.append(("Progress", _percent(run.progress)))
    duration = _duration(started, completed)
    if started is not None and completed is None:
        duration = time.time() - started
    fields += [
        ("Started", out.format_time(started)),
        ("Completed", out.format_time(completed)),
        ("Duration", out.format_duration(duration)),
    ]
    out.print_fields(fields)
    out.print_line()
    out.print_line("Parameters")
    width = max((len(k) for k in params), default=0) + 2
    for name, values in params.items():
        shown = values if len(values) <= 6 else [*values[:5], f"<{len(values) - 5} more>"]
        out.print_line(f"  {name:<{width}}{', '.join(shown)}")
    if not params:
        out.print_line("  <none>")
    out.print_line()
    if run.is_parent:
        _print_children(run, children)
    else:
        _print_nodes(nodes)
    return EXIT_OK


def _params_of(run: RunRecord, children: Sequence[RunRecord]) -> dict[str, list[str]]:
    """Rendered values per parameter: one for a run, the distinct ones of a parent's children."""
    values: dict[str, list[str]] = {}
    for record in children or [run]:
        for name, typed in (_loads(record.params) or {}).items():
            rendered = render_typed(typed)
            seen = values.setdefault(name, [])
            if rendered not in seen:
                seen.append(rendered)
    return values


def _print_children(run: RunRecord, children: Sequence[RunRecord]) -> None:
    counts: dict[str, int] = dict(Counter(c.state for c in children))
    out.print_line(f"Children       {run.n_children}: {_counts_text(counts)}")
    out.print_line()
    out.print_table(
        ["#", "id", "name", "state", "progress"],
        (
            [c.child_index, c.id, c.name or "<no name>", c.state, _percent(c.progress)]
            for c in children[:SHOWN_CHILDREN]
        ),
        title="Child Runs",
    )
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
            took = out.format_duration(_duration(n.started, n.completed))
        error = _error_line(n) if n.state in ("failed", "killed") and n.error else ""
        rows.append([n.name, n.op, n.state, n.attempts, took, error])
    out.print_table(["name", "op", "state", "attempts", "duration", "error"], rows, title="Nodes")


def describe_node(client: Client, run: RunRecord, name: str, as_json: bool) -> int:
    node = client.node(run.id, name)
    if as_json:
        data = node_json(node)
        data["outputs_rendered"] = {
            port: render_typed(typed) for port, typed in (_loads(node.outputs) or {}).items()
        }
        out.print_json(data)
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
        ("Duration", out.format_duration(_duration(node.started, node.completed))),
        ("Cache key", node.cache_key or "-"),
        ("Seed", seed),
    ]
    if node.state == "cached":
        fields.append(("Cache hit", f"outputs of run {node.cache_source}"))
    out.print_fields(fields)
    outputs = _loads(node.outputs) or {}
    if outputs:
        out.print_line()
        out.print_line("Outputs")
        width = max(len(k) for k in outputs) + 2
        for port, typed in outputs.items():
            kind = typed.get("type", "?") if isinstance(typed, dict) else "?"
            out.print_line(f"  {port:<{width}}{render_typed(typed)} ({kind})")
    error = _loads(node.error)
    if error:
        out.print_line()
        out.print_line("Error")
        if isinstance(error, dict):
            out.print_fields(
                [
                    ("  Classifier", error.get("classifier", "-")),
                    ("  Message", error.get("message", "")),
                ]
            )
            for cause in error.get("causes") or []:
                out.print_line(
                    f"  Caused by      {cause.get('classifier')}: {cause.get('message')}"
                )
            trace = error.get("stacktrace")
            if trace:
                out.print_line("  Stack trace")
                for line in str(trace).rstrip().splitlines():
                    out.print_line(f"    {line}")
        else:
            out.print_line(f"  {error}")
    return EXIT_OK


# -- logs ------------------------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    run_text, node_name = _split_node_id(args.run, args.node)
    streams: list[LogStream] = [s for s in LOG_STREAMS if getattr(args, s)]
    if not streams:
        raise UsageError("nothing to show: both stdout and stderr are switched off")
    if args.n is not None and args.n < 0:
        raise UsageError("-n must be >= 0")
    if args.follow and args.json:
        raise UsageError("--follow and --json cannot be combined")
    client = open_client(operators=False)
    run = resolve_run(client, run_text)
    lines = client.logs(run.id, node_name, streams=streams, limit=args.n)
    if args.json:
        out.print_json(
            [{"ts": x.ts, "stream": x.stream, "line": x.line, "node": x.node} for x in lines]
        )
        return EXIT_OK
    for x in lines:
        out.print_line(x.line)
    if args.follow:
        _follow_logs(client, run.id, node_name, streams, lines)
    return EXIT_OK


def _follow_logs(
    client: Client, run_id: str, node: str, streams: Sequence[LogStream], printed: list[LogLine]
) -> None:
    """Poll for new lines until the node is terminal.

    Storage returns lines strictly after ``since``; asking from slightly before the last printed
    line and skipping what was printed keeps lines that share its timestamp.
    """
    window = 1e-3
    last = printed[-1].ts if printed else None
    seen = {(x.ts, x.stream, x.line) for x in printed if last is not None and x.ts > last - window}
    while True:
        finished = client.node(run_id, node).state in NODE_TERMINAL
        since = None if last is None else last - window
        for x in client.logs(run_id, node, streams=streams, since=since):
            key = (x.ts, x.stream, x.line)
            if key in seen:
                continue
            out.print_line(x.line)
            seen.add(key)
            last = x.ts if last is None else max(last, x.ts)
        if last is not None:
            seen = {k for k in seen if k[0] > last - window}
        if finished:
            return
        time.sleep(FOLLOW_POLL)


# -- kill / delete ---------------------------------------------------------------------------


def _resolve_all(client: Client, texts: Sequence[str]) -> tuple[list[RunRecord], int]:
    """Known runs, and the exit code of the unknown ones (they are reported, then skipped)."""
    found: list[RunRecord] = []
    code = EXIT_OK
    for text in texts:
        try:
            record = resolve_run(client, text)
        except AccioError as exc:
            out.error(exc.lines())
            code = code or exc.exit_code
            continue
        if record.id not in {r.id for r in found}:
            found.append(record)
    return found, code


def _control_client() -> Client:
    """A client for kill/delete: a running scheduler does the work, so no operators are needed;
    without one, the client replays the runs itself and needs them."""
    from accio.config import Settings
    from accio.engine import daemon

    running = daemon.is_running(Settings.from_env().home)
    return open_client(autostart=False, operators=not running)


def cmd_kill(args: argparse.Namespace) -> int:
    client = _control_client()
    runs, code = _resolve_all(client, args.runs)
    active = [r for r in runs if r.state not in FINISHED]
    if active:
        client.kill([r.id for r in active])
    for r in runs:
        if r.state in FINISHED:
            out.print_line(f"Run {r.id} already finished ({r.state})")
        else:
            out.print_line(f"Killed run {r.id}")
    return code


def cmd_delete(args: argparse.Namespace) -> int:
    if args.type.lower() not in ("run", "runs"):
        raise UsageError(
            f"cannot delete {args.type!r}: only runs can be deleted, as 'accio delete run RUN...'"
        )
    if not args.runs:
        raise UsageError("give at least one run id: accio delete run RUN...")
    client = _control_client()
    runs, code = _resolve_all(client, args.runs)
    if runs:
        client.delete([r.id for r in runs])
    for r in runs:
        out.print_line(f"Deleted run {r.id}")
    return code


# -- edit ------------------------------------------------------------------------------------


def cmd_edit(args: argparse.Namespace) -> int:
    nothing = args.name is None and args.notes is None and args.tags is None
    if nothing and not args.add_tag and not args.remove_tag:
        raise UsageError(
            "nothing to edit: give --name, --notes, --tags, --add-tag or --remove-tag"
        )
    client = open_client(autostart=False, operators=False)
    run = resolve_run(client, args.run)
    target = client.run(run.parent_id) if run.parent_id else run
    tags: list[str] | None = None
    if args.tags is not None or args.add_tag or args.remove_tag:
        tags = list(_split([args.tags])) if args.tags is not None else list(target.tags)
        for tag in _split(args.add_tag):
            if tag not in tags:
                tags.append(tag)
        removed = set(_split(args.remove_tag))
        tags = [t for t in tags if t not in removed]
    edited = client.edit(target.id, name=args.name, notes=args.notes, tags=tags)
    if args.json:
        out.print_json(run_json(edited))
        return EXIT_OK
    if run.parent_id:
        out.info(
            f"run {run.id} is a child of {edited.id}: children share their parent's metadata, "
            "so the parent was edited (a child's generated name never changes)"
        )
    out.print_line(f"Edited run {edited.id}")
    out.print_fields(
        [
            ("Name", edited.name or "<no name>"),
            ("Notes", edited.notes or "<none>"),
            ("Tags", ", ".join(edited.tags) or "<none>"),
        ]
    )
    return EXIT_OK


# -- explain ---------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    client = open_client(autostart=False, operators=False)
    run = resolve_run(client, args.run)
    targets = client.children(run.id, limit=SHOWN_CHILDREN) if run.is_parent else [run]
    report: list[tuple[RunRecord, list[NodeExplanation]]] = [
        (r, client.explain(r.id, args.node)) for r in targets
    ]
    if args.json:
        out.print_json(
            [
                {
                    "run_id": r.id,
                    "run_name": r.name,
                    "nodes": [_explanation_json(e) for e in explained],
                }
                for r, explained in report
            ]
        )
        return EXIT_OK
    for i, (r, explained) in enumerate(report):
        if run.is_parent:
            if i:
                out.print_line()
            out.print_line(f"Child {r.child_index} {r.name or ''} ({r.id})")
        width = max((len(e.node) for e in explained), default=0) + 2
        indent = "  " if run.is_parent else ""
        for e in explained:
            out.print_line(f"{indent}{e.node:<{width}}{explanation_text(e)}")
    if run.is_parent and run.n_children > SHOWN_CHILDREN:
        out.print_line(f"{run.n_children - SHOWN_CHILDREN} more children: explain them by id")
    return EXIT_OK


def explanation_text(e: NodeExplanation) -> str:
    """``hit (from run X)``, ``executed: input epsilon changed since run Y``, ..."""
    if e.verdict == "hit":
        return f"hit (from run {e.source_run})" if e.source_run else "hit"
    if e.verdict == "executed":
        if e.source_run and not e.differences:
            return f"executed (an identical execution in run {e.source_run} recorded the result)"
        diffs = list(e.differences)
        if not diffs:
            return "executed"
        if e.compared_with is None:
            return f"executed: {', '.join(diffs)}"
        return f"executed: {', '.join(diffs)} changed since run {e.compared_with}"
    if e.verdict in ("pending", "queued", "running"):
        return f"not finished ({e.state})"
    return f"{e.verdict} (not cached)" if e.verdict in ("failed", "skipped") else e.verdict


def _explanation_json(e: NodeExplanation) -> dict[str, Any]:
    return {
        "node": e.node,
        "op": e.op,
        "state": e.state,
        "verdict": e.verdict,
        "source_run": e.source_run,
        "differences": list(e.differences),
        "compared_with": e.compared_with,
        "text": explanation_text(e),
    }
