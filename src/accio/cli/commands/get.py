"""``accio get runs|workflows|operators|agents`` and ``accio list`` (= ``get runs``).

One parser with a type word (not one per type) keeps the original's "flags and arguments in any
order" working: ``accio get -all runs``. ``get runs --json`` prints a list of the REST API's
``RunOut`` (the ``items`` of ``GET /runs``).
"""

from __future__ import annotations

import argparse
from typing import Any

from accio.cli import render as out
from accio.cli.commands import workflows
from accio.cli.commands.common import (
    RUN_STATES,
    add_json_flag,
    command,
    open_client,
    resolve_run,
    split_values,
)
from accio.errors import EXIT_OK, UsageError
from accio.storage.records import RunRecord, RunsFilter

TYPE_WORDS: dict[str, str] = {
    "run": "runs",
    "runs": "runs",
    "workflow": "workflows",
    "workflows": "workflows",
    "operator": "operators",
    "operators": "operators",
    "op": "operators",
    "ops": "operators",
    "agent": "agents",
    "agents": "agents",
}
#: Running tasks named per agent in the table (all with ``--wide``).
SHOWN_TASKS = 3


def register(subparsers: Any) -> None:
    get = subparsers.add_parser(
        "get",
        help="list runs, workflows, operators or agents",
        description="List resources: runs (newest first), workflows, operators or agents (where"
        " the scheduler runs tasks).",
    )
    get.add_argument(
        "type", metavar="TYPE", help="runs, workflows, operators (or op, ops) or agents"
    )
    _add_listing_flags(get)
    get.set_defaults(handler=command(cmd_get))

    listing = subparsers.add_parser("list", help="list runs (same as 'accio get runs')")
    _add_listing_flags(listing)
    listing.set_defaults(handler=command(cmd_get), type="runs")


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
        help=f"runs in this state (repeatable): {', '.join(RUN_STATES)}",
    )
    parser.add_argument("--text", "-q", help="words matched against names, notes and tags")
    parser.add_argument("--parent", metavar="RUN", help="children of this sweep")
    parser.add_argument("--limit", "-n", type=int, default=20, help="show at most N (default 20)")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N")
    parser.add_argument(
        "--all", action="store_true", help="include deprecated operators and inactive workflows"
    )
    parser.add_argument("--wide", action="store_true", help="full ids and versions")
    add_json_flag(parser)


def cmd_get(args: argparse.Namespace) -> int:
    kind = TYPE_WORDS.get(args.type.lower())
    if kind is None:
        raise UsageError(
            f"unknown resource type {args.type!r}: expected runs, workflows, operators or agents"
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
    if kind == "agents":
        return get_agents(args)
    return get_runs(args)


def get_agents(args: argparse.Namespace) -> int:
    """The scheduler's agents: one row per machine, Dask worker or batch job (``-n`` of them;
    ``--json`` gives them all)."""
    listing = open_client(autostart=False, operators=False).agents()
    if args.json:
        out.print_json(listing.model_dump(mode="json"))
        return EXIT_OK
    if not listing.scheduler:
        out.print_line(
            "No scheduler runs for this home, so no agent either ('accio server start')."
        )
        return EXIT_OK
    if not listing.agents:
        what = f"the {listing.executor} executor" if listing.executor else "the scheduler"
        out.print_line(f"No agent: {what} has no worker now.")
        return EXIT_OK
    rows = []
    shown = listing.agents[args.offset : args.offset + args.limit]
    for a in shown:
        tasks = a.tasks if args.wide else a.tasks[:SHOWN_TASKS]
        more = len(a.tasks) - len(tasks)
        rows.append(
            [
                a.name,
                a.kind,
                a.state,
                a.cpus,
                "" if a.memory_bytes is None else out.format_bytes(a.memory_bytes),
                f"{a.running}/{a.cpus}",
                a.job_id or "",
                ", ".join(tasks) + (f" (+{more})" if more else ""),
            ]
        )
    # the original's NAME, CPU, RAM and TYPE (its DISK is unknown here), then what runs there
    columns = ["name", "type", "state", "cpu", "ram", "running", "job", "tasks"]
    out.print_table(columns, rows)
    more = len(listing.agents) - args.offset - len(shown)
    if more > 0:
        out.print_line(f"{more} more...")
    return EXIT_OK


def get_runs(args: argparse.Namespace) -> int:
    from accio.client.progress import node_progress, short_progress, shown_state

    states = split_values(args.states)
    unknown = [s for s in states if s not in RUN_STATES]
    if unknown:
        raise UsageError(f"unknown state {unknown[0]!r}: expected one of {', '.join(RUN_STATES)}")
    client = open_client(operators=False)
    parent = resolve_run(client, args.parent).id if args.parent else None
    f = RunsFilter(
        workflow=args.workflow,
        tags=split_values(args.tags),
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
        from accio.client.models import run_out  # pydantic: only for --json

        out.print_json([run_out(r).model_dump(mode="json") for r in runs])
        return EXIT_OK
    total = client.count_runs(f)
    rows = []
    for r in runs:
        counts = node_progress(client, r)
        rows.append(
            [
                r.id if args.wide else r.id[:12],
                r.workflow_id,
                out.relative_time(r.created),
                _run_name(r),
                shown_state(r.state, counts),
                short_progress(counts),
            ]
        )
    out.print_table(["id", "workflow", "created", "name", "state", "progress"], rows)
    more = total - args.offset - len(runs)
    if more > 0:
        out.print_line(f"{more} more...")
    return EXIT_OK


def _run_name(r: RunRecord) -> str:
    name = r.name or "<no name>"
    return f"({r.n_children}) {name}" if r.is_parent else name
