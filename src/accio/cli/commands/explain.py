"""``accio explain RUN [NODE]``: why each node was a cache hit or was executed.

``--json`` prints a list of the REST API's ``ExplanationOut`` (each naming its run: a sweep
parent explains its first children), with the sentence shown on the terminal as ``text``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands.common import (
    SHOWN_CHILDREN,
    add_json_flag,
    command,
    open_client,
    resolve_run,
)
from accio.errors import EXIT_OK
from accio.storage.records import RunRecord

if TYPE_CHECKING:
    from accio.client.contract import NodeExplanation


def register(subparsers: Any) -> None:
    explain = subparsers.add_parser(
        "explain",
        help="say why each node was a cache hit or was executed",
        description="For each node: a cache hit (and from which run), or what changed since "
        "the closest earlier execution of the same operator.",
    )
    explain.add_argument("run", metavar="RUN")
    explain.add_argument("node", metavar="NODE", nargs="?")
    add_json_flag(explain)
    explain.set_defaults(handler=command(cmd_explain))


def cmd_explain(args: argparse.Namespace) -> int:
    from accio.client.models import explanation_out

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
                    **explanation_out(r.id, e).model_dump(mode="json"),
                    "text": explanation_text(e),
                }
                for r, explained in report
                for e in explained
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
