"""``accio validate`` and ``accio expand``: definitions checked and expanded, nothing stored.

A run definition's workflow is found as ``submit`` finds it (:func:`accio.client.lookup.find_workflow`):
``--workflow FILE``, else the pushed workflow (asked of the client, local or remote, opened only
when needed), else ``<id>.json`` beside the run file.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.arguments import add_run_arguments, run_from_arguments
from accio.cli.commands.common import cli_settings, command, open_client
from accio.client.lookup import find_workflow
from accio.definitions.documents import BARE_SPEC_RE, run_from_document, workflow_from_document
from accio.definitions.load import (
    definition_kind,
    parse_json_text,
    read_json_file,
    workflow_id_from_path,
)
from accio.definitions.model import Workflow
from accio.definitions.run import resolve_run
from accio.definitions.sweep import Child, Sweep
from accio.errors import EXIT_OK, AccioError, UsageError
from accio.ops.registry import OperatorRegistry, default_registry
from accio.values.canonical import to_canonical
from accio.values.render import render

if TYPE_CHECKING:
    from accio.client.contract import AccioClient

#: Children shown by ``validate`` for a run definition.
PREVIEW_CHILDREN = 5


class PushedWorkflows:
    """Looks workflow specs up among pushed workflows through a client opened on first use, so
    that validating workflow files (or runs with ``--workflow``) never opens a home."""

    def __init__(self) -> None:
        self._client: AccioClient | None = None

    def __call__(self, spec: str) -> Workflow | None:
        if self._client is None:
            self._client = open_client(autostart=False)
        return self._client.find_stored_workflow(spec)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check workflow and run definitions without running anything",
        description="Validate workflow or run definition files. For a run: the number of "
        "children and the first ones, with names and seeds.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--workflow",
        dest="workflow_file",
        metavar="FILE",
        help="workflow definition to check run definitions against",
    )
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.set_defaults(handler=command(cmd_validate))

    expand = subparsers.add_parser(
        "expand",
        help="list the children a run definition creates (names, parameters, seeds)",
        description="Expand a run definition into its child runs without submitting it.",
    )
    add_run_arguments(expand)
    expand.add_argument("--limit", type=int, default=None, help="show at most N children")
    expand.add_argument("--json", action="store_true", help="machine-readable output")
    expand.set_defaults(handler=command(cmd_expand))


def cmd_validate(args: argparse.Namespace) -> int:
    registry = default_registry()
    code = EXIT_OK
    reports = []
    stored = PushedWorkflows()
    try:
        for file in args.files:
            try:
                reports.append(
                    _validate_file(file, registry, args.workflow_file, args.json, stored)
                )
            except AccioError as exc:
                out.error(exc.lines())
                code = code or exc.exit_code
                reports.append(
                    {"file": str(Path(file).resolve()), "valid": False, "errors": exc.lines()}
                )
    finally:
        stored.close()
    if args.json:
        out.print_json(reports)
    return code


def _validate_file(
    file: str,
    registry: OperatorRegistry,
    workflow_file: str | None,
    as_json: bool,
    stored: PushedWorkflows,
) -> dict[str, Any]:
    text = _read_text(file)
    if BARE_SPEC_RE.match(text.strip()):
        document: Any = text.strip()  # a run file holding just "id" or "id:version"
    else:
        document = parse_json_text(text, file)
    absolute = str(Path(file).resolve())
    is_workflow = definition_kind(document) == "workflow"
    if workflow_file is not None and not (isinstance(document, dict) and "graph" in document):
        is_workflow = False  # checked against --workflow: it is meant as a run definition
    if is_workflow:
        workflow, warnings = workflow_from_document(
            document, registry, file=file, default_id=workflow_id_from_path(file)
        )
        out.warn(warnings)
        if not as_json:
            out.print_line(
                f"Validated workflow {workflow.id} (version {workflow.version[:12]}, "
                f"{len(workflow.nodes)} nodes, {len(workflow.params)} parameters) in {absolute}"
            )
        return {
            "file": absolute,
            "valid": True,
            "kind": "workflow",
            "id": workflow.id,
            "version": workflow.version,
            "warnings": [w.render() for w in warnings],
        }
    run = run_from_document(document, file=file)
    workflow, source, warnings = find_workflow(
        run, registry, explicit=workflow_file, stored=stored
    )
    sweep = resolve_run(run, workflow, registry, max_children=cli_settings().max_children)
    out.warn([*warnings, *sweep.warnings])
    preview = list(sweep.children(0, PREVIEW_CHILDREN))
    if not as_json:
        out.print_line(f"Validated run definition {absolute}")
        _print_summary(sweep, source)
        if not sweep.is_single:
            out.print_line(f"First {len(preview)} of {len(sweep):,} children:")
        _print_children(sweep, preview)
    return {
        "file": absolute,
        "valid": True,
        "kind": "run",
        **_summary_json(sweep, source),
        "first_children": [_child_json(sweep, c) for c in preview],
    }


def _read_text(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        read_json_file(file)  # raises the clear "file not found" / "cannot read" error
        raise


def cmd_expand(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit must be >= 0")
    registry = default_registry()
    run = run_from_arguments(args)
    stored = PushedWorkflows()
    try:
        workflow, source, warnings = find_workflow(
            run, registry, explicit=args.workflow_file, stored=stored
        )
    finally:
        stored.close()
    sweep = resolve_run(run, workflow, registry, max_children=cli_settings().max_children)
    out.warn([*warnings, *sweep.warnings])
    stop = len(sweep) if args.limit is None else min(args.limit, len(sweep))
    if args.json:
        out.print_json(
            {
                **_summary_json(sweep, source),
                "children": [_child_json(sweep, c) for c in sweep.children(0, stop)],
            }
        )
        return EXIT_OK
    _print_summary(sweep, source)
    _print_children(sweep, sweep.children(0, stop))
    if stop < len(sweep):
        out.print_line(f"{len(sweep) - stop:,} more...")
    return EXIT_OK


def _summary_json(sweep: Sweep, source: str) -> dict[str, Any]:
    return {
        "workflow": sweep.workflow.id,
        "workflow_version": sweep.workflow.version,
        "workflow_source": source,
        "children": len(sweep),
        "combinations": sweep.combinations,
        "repeat": sweep.repeat,
        "single": sweep.is_single,
        "seed": sweep.run_seed,
        "seed_given": sweep.seed_given,
        "name": sweep.run.name,
        "tags": list(sweep.run.tags),
        "params": {axis.name: [render(axis.dtype, v) for v in axis.values] for axis in sweep.axes},
    }


def _child_json(sweep: Sweep, child: Child) -> dict[str, Any]:
    types = sweep.param_types()
    return {
        "index": child.index,
        "name": child.name,
        "repeat_index": child.repeat_index,
        "seed": child.seed,
        "params": {k: to_canonical(types[k], v) for k, v in child.params.items()},
        "rendered": {k: render(types[k], v) for k, v in child.params.items()},
    }


def _print_summary(sweep: Sweep, source: str) -> None:
    wf = sweep.workflow
    out.print_line(f"  workflow   {wf.id}:{wf.version[:12]} ({source})")
    if sweep.is_single:
        out.print_line("  runs       1 (a single run)")
    else:
        sizes = " × ".join(f"{len(a)} {a.name}" for a in sweep.axes if len(a) > 1) or "1"
        out.print_line(
            f"  children   {len(sweep):,} = {sizes} ({sweep.combinations:,} combinations) "
            f"× repeat {sweep.repeat}"
        )
    if sweep.seed_given:
        out.print_line(f"  seed       {sweep.run_seed}")
    else:
        out.print_line(
            f"  seed       {sweep.run_seed} (random: none given; pass --seed={sweep.run_seed} "
            "to reproduce these child seeds)"
        )


def _print_children(sweep: Sweep, children: Any) -> None:
    types = sweep.param_types()
    shown = [a.name for a in sweep.axes] + [n for n in sweep.defaults]
    rows = (
        [
            child.index,
            child.name or "-",
            child.seed,
            *(render(types[n], child.params[n]) for n in shown),
        ]
        for child in children
    )
    head = list(itertools.islice(rows, 1000))
    out.print_table(["#", "name", "seed", *shown], head)
    for row in rows:  # beyond 1,000 rows, stream plain lines instead of building a table
        out.print_line("  ".join(str(v) for v in row))
