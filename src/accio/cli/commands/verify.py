"""``accio verify [--repair]``: re-hash every artifact of this home's store.

Reads verify themselves, so this is for the files nobody reads: after a disk incident, before a
backup, or when ``accio gc`` reported damage. Without ``--repair`` nothing changes; with it,
damaged files move to ``<home>/artifacts/quarantine`` and the cache entries that point at them
(or at missing files) are dropped, so re-submitting the affected runs re-executes their
producers. Exit 0 when the store is sound or was repaired, 4 when damage was found and left.
"""

from __future__ import annotations

import argparse
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, cli_settings, command
from accio.errors import EXIT_OK, EXIT_RUNTIME, UsageError


def register(subparsers: Any) -> None:
    verify = subparsers.add_parser(
        "verify",
        help="check every stored artifact against its digest",
        description="Re-hash every artifact of the store. With --repair, damaged files are "
        "quarantined and the cache entries using damaged or missing files are dropped, so that "
        "re-submitting the affected runs recomputes them.",
    )
    verify.add_argument(
        "--repair", action="store_true", help="quarantine damage and invalidate its cache entries"
    )
    add_json_flag(verify)
    verify.set_defaults(handler=command(cmd_verify))


def cmd_verify(args: argparse.Namespace) -> int:
    if cli_settings().server:
        raise UsageError(
            "accio verify runs on the machine that holds the home (unset ACCIO_SERVER)"
        )
    from accio.cache.verify import verify_store
    from accio.engine.runtime import open_runtime

    runtime = open_runtime(cli_settings())
    try:
        report = verify_store(runtime.artifacts, runtime.storage, repair=args.repair)
    finally:
        runtime.close()
    if args.json:
        out.print_json(
            {
                "checked": report.checked,
                "bytes": report.bytes_checked,
                "damaged": report.damaged,
                "missing": report.missing,
                "quarantined": report.quarantined,
                "affected": [
                    {"run": run, "node": node, "op": op} for run, node, op in report.affected
                ],
                "runs": report.runs,
                "repaired": report.repaired,
            }
        )
    else:
        for line in report.lines():
            out.print_line(line)
    return EXIT_OK if report.ok or args.repair else EXIT_RUNTIME
