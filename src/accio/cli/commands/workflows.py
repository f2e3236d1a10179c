"""``accio push``, and the workflow and operator views of ``accio get`` and ``accio describe``.

The ``get`` and ``describe`` parsers live in :mod:`accio.cli.commands.get` and
:mod:`accio.cli.commands.describe` (one command each, with a type word); they call
:func:`get_workflows`, :func:`get_operators`, :func:`describe_workflow` and
:func:`describe_operator` here. ``--json`` prints the REST API's models: ``WorkflowOut``,
``WorkflowDetailOut``, ``OperatorOut``, ``PushOut``.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, command, open_client
from accio.definitions.documents import workflow_from_document
from accio.definitions.inputs import input_text
from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import Workflow
from accio.errors import EXIT_OK, AccioError
from accio.ops.api import PortSpec
from accio.values.canonical import to_canonical
from accio.values.render import render

if TYPE_CHECKING:
    from accio.client.contract import AccioClient
    from accio.client.models import WorkflowDetailOut


def register(subparsers: Any) -> None:
    push = subparsers.add_parser(
        "push",
        help="validate workflow definitions and store them as the active version",
        description="Validate each workflow file and store it as a new active version. "
        "The pusher becomes the owner when the file names none.",
    )
    push.add_argument("files", nargs="+", metavar="FILE")
    add_json_flag(push)
    push.set_defaults(handler=command(cmd_push))


def cmd_push(args: argparse.Namespace) -> int:
    """Every file is tried; the exit code is the first failure's (cli.md §1)."""
    from accio.client.models import PushOut, problem_items

    client = open_client()
    code = EXIT_OK
    report: list[dict[str, Any]] = []
    for file in args.files:
        try:
            document = read_json_file(file)
            _, warnings = workflow_from_document(
                document, client.registry, file=file, default_id=workflow_id_from_path(file)
            )
            out.warn(warnings)
            record, new = client.push(file)
        except AccioError as exc:
            out.error(exc.lines())
            code = code or exc.exit_code
            report.append({"file": file, "pushed": False, "errors": exc.lines()})
            continue
        spec = f"{record.id}:{record.version[:12]}"
        if not args.json:
            out.print_line(f"Pushed workflow {spec}" if new else f"Workflow {spec} unchanged")
        pushed = PushOut(
            id=record.id, version=record.version, new=new, warnings=problem_items(warnings)
        )
        report.append({"file": file, "pushed": True, **pushed.model_dump(mode="json")})
    if args.json:
        out.print_json(report)
    return code


# -- get workflows / operators --------------------------------------------------------------


def get_workflows(args: argparse.Namespace) -> int:
    from accio.client.models import workflow_out

    client = open_client(operators=False)
    shown = client.workflows(
        args.owner, args.text, args.limit, args.offset, include_inactive=args.all
    )
    if args.json:
        out.print_json([workflow_out(r).model_dump(mode="json") for r in shown])
        return EXIT_OK
    out.print_table(
        ["id", "version", "owner", "created", "name"],
        (
            [
                r.id,
                r.version if args.wide else r.version[:12],
                r.owner or "<anonymous>",
                out.relative_time(r.created),
                r.name or "<no name>",
            ]
            for r in shown
        ),
    )
    total = client.count_workflows(args.owner, args.text, include_inactive=args.all)
    more = total - args.offset - len(shown)
    if more > 0:
        out.print_line(f"{more} more...")
    return EXIT_OK


def get_operators(args: argparse.Namespace) -> int:
    client = open_client(autostart=False)
    specs = client.operators(include_deprecated=args.all)
    if args.json:
        out.print_json([s.model_dump(mode="json") for s in specs])
        return EXIT_OK
    if not specs:
        out.print_line("No operators installed.")
        return EXIT_OK
    width = max(len(s.name) for s in specs) + 2
    categories = sorted({s.category for s in specs})
    for i, category in enumerate(categories):
        if i:
            out.print_line()
        out.print_line(f"Operators in {category} category")
        for spec in sorted((s for s in specs if s.category == category), key=lambda s: s.name):
            note = " (deprecated)" if spec.deprecation else ""
            out.print_line(f"  {spec.name:<{width}}{spec.help or ''}{note}")
    return EXIT_OK


# -- describe workflow / operator -----------------------------------------------------------


def workflow_detail(client: AccioClient, spec: str) -> WorkflowDetailOut:
    """A pushed workflow as the REST API describes it (``GET /workflows/{spec}``)."""
    from accio.client.models import (
        WorkflowDetailOut,
        WorkflowNodeOut,
        WorkflowParamOut,
        workflow_out,
    )

    record = client.workflow_record(spec)
    definition = json.loads(record.definition)
    workflow: Workflow | None
    try:
        workflow, _ = workflow_from_document(definition, client.registry)
    except AccioError:  # e.g. its operators are not installed here: show the raw document
        workflow = None
    params: list[WorkflowParamOut] = []
    nodes: list[WorkflowNodeOut] = []
    if workflow is not None:
        params = [
            WorkflowParamOut(
                name=p.name,
                kind=str(p.kind),
                default=to_canonical(p.kind, p.default) if p.has_default else None,
                default_text=render(p.kind, p.default) if p.has_default else None,
                required=not p.has_default and not p.optional,
                optional=p.optional,
            )
            for p in workflow.params
        ]
        nodes = [
            WorkflowNodeOut(
                name=n.name,
                op=n.op,
                inputs={port: input_text(n, port, client.registry) for port in n.inputs},
                depends_on=n.dependencies(),
            )
            for n in workflow.nodes
        ]
    return WorkflowDetailOut(
        **workflow_out(record).model_dump(),
        params=params,
        nodes=nodes,
        definition=definition if isinstance(definition, dict) else {},
    )


def describe_workflow(args: argparse.Namespace) -> int:
    client = open_client()
    detail = workflow_detail(client, args.id)
    if args.json:
        out.print_json(detail.model_dump(mode="json"))
        return EXIT_OK
    out.print_fields(
        [
            ("Id", detail.id),
            ("Version", detail.version),
            ("Created", out.format_time(detail.created)),
            ("Owner", detail.owner or "<anonymous>"),
            ("Name", detail.name or "<no name>"),
            ("Active", "yes" if detail.active else "no"),
        ]
    )
    out.print_line()
    if detail.params:
        out.print_table(
            ["name", "kind", "default", "required"],
            (
                [
                    p.name,
                    p.kind,
                    "-" if p.default_text is None else p.default_text,
                    "yes" if p.required else "no",
                ]
                for p in detail.params
            ),
            title="Parameters",
        )
    else:
        out.print_line("Parameters     <none>")
    out.print_line()
    out.print_table(
        ["name", "op", "inputs"],
        (
            [n.name, n.op, ", ".join(f"{k}={v}" for k, v in n.inputs.items()) or "-"]
            for n in detail.nodes
        ),
        title="Nodes",
    )
    return EXIT_OK


def describe_operator(args: argparse.Namespace) -> int:
    client = open_client(autostart=False)
    if args.json:
        out.print_json(client.operator(args.id).model_dump(mode="json"))
        return EXIT_OK
    spec = client.registry.require(args.id)  # the full declaration: ranges, choices
    out.print_line(f"Operator: {spec.name} ({spec.category})")
    if spec.deprecation:
        out.print_line(f"Deprecated: {spec.deprecation}")
    out.print_line()
    text = spec.description or spec.help
    if text:
        for paragraph in text.split("\n\n"):
            out.print_line(textwrap.fill(" ".join(paragraph.split()), 80))
        out.print_line()
    res = spec.resources
    out.print_fields(
        [
            ("Version", spec.version),
            ("Unstable", "yes (uses its seed)" if spec.unstable else "no"),
            ("Resources", f"{res.cpus:g} CPU, {res.memory_mb} MiB memory, {res.disk_mb} MiB disk"),
        ]
    )
    out.print_line()
    out.print_line("Available inputs:")
    for port in spec.inputs:
        out.print_line(f"  {_input_line(port)}")
    if not spec.inputs:
        out.print_line("  <none>")
    out.print_line()
    out.print_line("Available outputs:")
    for port in spec.outputs:
        out.print_line(f"  - {port.name} ({port.dtype})")
        if port.help:
            out.print_line(textwrap.indent(textwrap.fill(port.help, 76), "    "))
    return EXIT_OK


def _input_line(port: PortSpec) -> str:
    details = [str(port.dtype)]
    if port.has_default:
        try:
            details.append(f"default: {render(port.dtype, port.default)}")
        except AccioError:
            details.append(f"default: {port.default!r}")
    if port.optional:
        details.append("optional")
    constraints = _constraints(port)
    if constraints:
        details.append(constraints)
    line = f"{port.name} ({'; '.join(details)})"
    return f"{line}: {port.help}" if port.help else line


def _constraints(port: PortSpec) -> str:
    parts: list[str] = []
    if port.min is not None:
        parts.append(f"{'>' if port.min_exclusive else '>='} {port.min:g}")
    if port.max is not None:
        parts.append(f"{'<' if port.max_exclusive else '<='} {port.max:g}")
    if port.choices is not None:
        parts.append("one of " + ", ".join(str(c) for c in port.choices))
    return ", ".join(parts)
