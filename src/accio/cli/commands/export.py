"""``accio export``: a run's results as long CSV/Parquet tables (cli.md §2 "export", reshaped).

Instead of the original's one file per artifact with ad-hoc headers, every output goes into one
long table (see :mod:`accio.client.export`), which any data-frame library reads directly and
which stays the same shape when a workflow gains an output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, command, open_client, resolve_run
from accio.errors import EXIT_OK, NotFoundError, RuntimeFailure, UsageError


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export",
        help="write the results of runs as CSV or Parquet tables",
        description="Write every output of the runs (a parent's children included) as one long "
        "table, one row per child and output value; collections give one row per element, "
        "datasets are listed by digest (copied as Parquet files with --datasets). Missing or "
        "failed children are reported.",
    )
    export.add_argument("runs", nargs="+", metavar="RUN", help="run ids (parents or single runs)")
    export.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)"
    )
    export.add_argument(
        "--out", metavar="DIR", default=None, help="directory (default accio-export-<hex>)"
    )
    export.add_argument(
        "--split-by", metavar="PARAM", default=None, help="one sub-directory per value of PARAM"
    )
    export.add_argument(
        "--aggregate",
        action="store_true",
        help="also write mean, std, 95%% CI and count over the repeats of each combination",
    )
    export.add_argument(
        "--outputs",
        metavar="NODE/PORT,...",
        default=None,
        help="only these outputs (a bare NODE selects all its outputs)",
    )
    export.add_argument(
        "--datasets",
        action="store_true",
        help="also copy dataset outputs as Parquet files (default: their digests are listed)",
    )
    add_json_flag(export)
    export.set_defaults(handler=command(cmd_export))


def cmd_export(args: argparse.Namespace) -> int:
    from accio.client.export import default_out_dir, export_run

    outputs = None
    if args.outputs is not None:
        outputs = [o for o in args.outputs.split(",") if o.strip()]
    client = open_client(autostart=False)
    run_ids: list[str] = []
    for text in args.runs:  # unique id prefixes work as in every command; unknown ids warn
        try:
            run_ids.append(resolve_run(client, text).id)
        except NotFoundError:
            run_ids.append(text)  # export_run reports it and skips it
    directory = (default_out_dir() if args.out is None else _path(args.out)).absolute()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    if not args.json:
        out.print_line(f"Writing export to {directory}")
    try:
        result = export_run(
            client,
            run_ids,
            directory,
            fmt=args.format,
            split_by=args.split_by,
            aggregated=args.aggregate,
            outputs=outputs,
            datasets=args.datasets,
        )
    except OSError as exc:  # unwritable folder, full disk, a file in the way of a folder
        where = exc.filename or directory
        raise RuntimeFailure(
            f"--out {args.out or directory}: cannot write {where}: {exc.strerror}"
        ) from None
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        from accio.client.models import ExportOut

        out.print_json(
            ExportOut(
                directory=str(result.directory),
                files=[str(p) for p in result.files],
                runs=result.runs,
                rows=result.rows,
                warnings=list(result.warnings),
                dataset_digests=list(result.dataset_digests),
            ).model_dump(mode="json")
        )
        return EXIT_OK
    out.print_line(f"Found {result.runs} matching runs")
    for path in result.files:
        out.print_line(f"Wrote {path}")
    if result.dataset_digests:
        out.print_line(
            f"{len(result.dataset_digests)} dataset outputs not copied (digests in the 'text' "
            "column; --datasets copies them):"
        )
        for digest in result.dataset_digests[:20]:
            out.print_line(f"  {digest}")
        if len(result.dataset_digests) > 20:
            out.print_line(f"  ... and {len(result.dataset_digests) - 20} more")
    return EXIT_OK  # unknown runs and failed children are warnings, as in the original


def _path(text: str) -> Path:
    return Path(text).expanduser()
