"""``accio gc``: collect unreferenced artifacts; with a retention policy, old runs first.

``--keep-last N`` and ``--older-than D`` (``30d``, ``12h``, ``90m``, ``2w``) delete finished
top-level runs with their children, then the cache entries no remaining run needs, then the
artifacts nothing references any more. ``--dry-run`` says what would go. ``--json`` prints the
REST API's ``GcOut`` (plain gc) or ``RetentionOut``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, command, open_client
from accio.errors import EXIT_OK, UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def register(subparsers: Any) -> None:
    gc = subparsers.add_parser(
        "gc",
        help="delete unused artifacts; with --keep-last/--older-than, old runs first",
        description="Garbage-collect the home. Without a policy: artifact files no node output "
        "or cache entry refers to. With --keep-last N or --older-than D: finished top-level runs "
        "beyond the N newest or older than D (both: runs meeting both) are deleted with their "
        "children, then cache entries no remaining run needs, then unreferenced artifacts.",
    )
    gc.add_argument("--keep-last", type=int, metavar="N", help="keep the N newest top-level runs")
    gc.add_argument(
        "--older-than", metavar="D", help="delete runs created more than D ago (30d, 12h, 90m, 2w)"
    )
    gc.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    add_json_flag(gc)
    gc.set_defaults(handler=command(cmd_gc))


def parse_age(text: str) -> float:
    """``30d`` -> seconds; a bare number is days. UsageError when malformed."""
    match = _DURATION.match(text)
    if match is None:
        raise UsageError(
            f"--older-than: expected a duration such as 30d, 12h or 90m, got {text!r}"
        )
    unit = (match.group(2) or "d").lower()
    return float(match.group(1)) * _UNIT_S[unit]


def cmd_gc(args: argparse.Namespace) -> int:
    if args.keep_last is not None and args.keep_last < 0:
        raise UsageError("--keep-last must be >= 0")
    older = None if args.older_than is None else parse_age(args.older_than)
    client = open_client(autostart=False, operators=False)
    if args.keep_last is None and older is None:
        if args.dry_run:
            raise UsageError("--dry-run needs --keep-last or --older-than")
        files, size = client.gc()
        if args.json:
            from accio.client.models import GcOut

            out.print_json(GcOut(files=files, bytes=size).model_dump(mode="json"))
        else:
            out.print_line(f"Freed {files} files, {out.format_bytes(size)} ({size} bytes)")
        return EXIT_OK
    report = client.retain(keep_last=args.keep_last, older_than=older, dry_run=args.dry_run)
    if args.json:
        out.print_json(report.model_dump(mode="json"))
        return EXIT_OK
    verb = "Would delete" if report.dry_run else "Deleted"
    out.print_line(
        f"{verb} {len(report.runs)} runs ({report.runs_deleted} with their children), "
        f"{report.cache_entries} cache entries, {report.files} artifact files "
        f"({out.format_bytes(report.bytes)}, {report.bytes} bytes)"
    )
    return EXIT_OK
