"""``accio kill RUN...`` and ``accio delete run RUN...``.

Every id is tried: unknown ones are reported and skipped, and the exit code is the first
failure's. A running scheduler does the work; without one, the client does it in this process.
"""

from __future__ import annotations

import argparse
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import (
    FINISHED,
    add_json_flag,
    command,
    control_client,
    resolve_all,
)
from accio.errors import UsageError


def register(subparsers: Any) -> None:
    kill = subparsers.add_parser(
        "kill",
        help="stop runs (a parent stops all its children)",
        description="Kill runs: running nodes are killed, the others cancelled.",
    )
    kill.add_argument("runs", nargs="+", metavar="RUN")
    add_json_flag(kill)
    kill.set_defaults(handler=command(cmd_kill))

    delete = subparsers.add_parser(
        "delete",
        help="delete runs with their nodes and logs",
        description="Delete runs: 'accio delete run RUN...'. A parent takes its children along.",
    )
    delete.add_argument("type", metavar="TYPE", help="run (the only deletable type)")
    delete.add_argument("runs", nargs="*", metavar="RUN")
    add_json_flag(delete)
    delete.set_defaults(handler=command(cmd_delete))


def cmd_kill(args: argparse.Namespace) -> int:
    client = control_client()
    runs, code = resolve_all(client, args.runs)
    active = [r for r in runs if r.state not in FINISHED]
    if active:
        client.kill([r.id for r in active])
    if args.json:
        from accio.client.models import KillOut

        killed = KillOut(
            killed=[r.id for r in active],
            already_finished=[r.id for r in runs if r.state in FINISHED],
        )
        out.print_json(killed.model_dump(mode="json"))
        return code
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
    client = control_client()
    runs, code = resolve_all(client, args.runs)
    deleted = client.delete([r.id for r in runs]) if runs else []
    if args.json:
        from accio.client.models import DeleteOut

        out.print_json(DeleteOut(deleted=deleted).model_dump(mode="json"))
        return code
    for r in runs:
        out.print_line(f"Deleted run {r.id}")
    return code
