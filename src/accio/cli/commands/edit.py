"""``accio edit RUN --name/--notes/--tags/--add-tag/--remove-tag``: a run's metadata.

A child has no metadata of its own: editing it edits its parent. ``--json`` prints the edited
run as the REST API's ``RunOut`` (the answer of ``PATCH /runs/{id}``).
"""

from __future__ import annotations

import argparse
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import (
    add_json_flag,
    command,
    open_client,
    resolve_run,
    split_values,
)
from accio.errors import EXIT_OK, UsageError


def register(subparsers: Any) -> None:
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
    add_json_flag(edit)
    edit.set_defaults(handler=command(cmd_edit))


def cmd_edit(args: argparse.Namespace) -> int:
    from accio.client.models import run_out

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
        tags = list(split_values([args.tags])) if args.tags is not None else list(target.tags)
        for tag in split_values(args.add_tag):
            if tag not in tags:
                tags.append(tag)
        removed = set(split_values(args.remove_tag))
        tags = [t for t in tags if t not in removed]
    edited = client.edit(target.id, name=args.name, notes=args.notes, tags=tags)
    if args.json:
        out.print_json(run_out(edited).model_dump(mode="json"))
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
