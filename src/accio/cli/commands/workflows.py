"""``accio push``, and the workflow and operator views of ``accio get`` and ``accio describe``.

The ``get`` and ``describe`` parsers live in :mod:`accio.cli.commands.runs` (one command each,
with a type word); they call :func:`get_workflows`, :func:`get_operators`,
:func:`describe_workflow` and :func:`describe_operator` here. The client is imported lazily so
that ``accio help`` does not pay for the database and Arrow imports.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.definitions.documents import workflow_from_document
from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import Constant, NodeDef, NodeRef, ParamRef
from accio.errors import EXIT_OK, AccioError
from accio.ops.api import PortSpec
from accio.ops.registry import OperatorRegistry, default_registry
from accio.values.render import render

if TYPE_CHECKING:
    from accio.client.client import Client
    from accio.storage.records import WorkflowRecord


def open_client(*, autostart: bool = True, operators: bool = True) -> Client:
    """A client on ``$ACCIO_HOME``; imported here so that light commands stay fast.

    ``operators=False`` is for commands that only read stored records: loading every operator
    plugin (NumPy kernels, SciPy...) would double their start-up time.
    """
    import os

    from accio.client.client import Client

    server = os.environ.get("ACCIO_SERVER", "").strip()
    if server:  # a remote server: the same methods, over its REST API
        from typing import cast

        from accio.client.remote import RemoteClient

        return cast("Client", RemoteClient(server))
    return Client(autostart=autostart, registry=None if operators else _NoOperators())


class _NoOperators(OperatorRegistry):
    """An empty registry that is still truthy: ``open_runtime`` tests ``registry or default``."""

    def __bool__(self) -> bool:
        return True


def register(subparsers: Any) -> None:
    push = subparsers.add_parser(
        "push",
        help="validate workflow definitions and store them as the active version",
        description="Validate each workflow file and store it as a new active version. "
        "The pusher becomes the owner when the file names none.",
    )
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--json", action="store_true", help="machine-readable output")
    push.set_defaults(handler=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    """Every file is tried; the exit code is the first failure's (cli.md §1)."""
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
        report.append(
            {"file": file, "pushed": True, "id": record.id, "version": record.version, "new": new}
        )
    if args.json:
        out.print_json(report)
    return code


# -- get workflows / operators --------------------------------------------------------------


def get_workflows(args: argparse.Namespace) -> int:
    client = open_client(operators=False)
    records = client.workflows(
        owner=args.owner, text=args.text, limit=2**31 - 1, include_inactive=args.all
    )
    shown = records[args.offset : args.offset + args.limit]
    if args.json:
        out.print_json([workflow_json(r) for r in shown])
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
    more = len(records) - args.offset - len(shown)
    if more > 0:
        out.print_line(f"{more} more...")
    return EXIT_OK


def get_operators(args: argparse.Namespace) -> int:
    specs = [s for s in default_registry() if args.all or not s.deprecation]
    if args.json:
        out.print_json([s.describe() for s in specs])
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
            out.print_line(f"  {spec.name:<{width}}{spec.help}{note}")
    return EXIT_OK


def workflow_json(record: WorkflowRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "name": record.name,
        "owner": record.owner,
        "created": record.created,
        "active": record.active,
    }


# -- describe workflow / operator -----------------------------------------------------------


def describe_workflow(args: argparse.Namespace) -> int:
    client = open_client()
    workflow = client.workflow(args.id)
    record = client.workflow_record(f"{workflow.id}:{workflow.version}")
    params: list[dict[str, Any]] = [
        {
            "name": p.name,
            "kind": str(p.kind),
            "default": render(p.kind, p.default) if p.has_default else None,
            "required": not p.has_default and not p.optional,
        }
        for p in workflow.params
    ]
    nodes: list[dict[str, Any]] = [
        {
            "name": n.name,
            "op": n.op,
            "inputs": {port: _input_text(n, port) for port in n.inputs},
            "depends_on": n.dependencies(),
        }
        for n in workflow.nodes
    ]
    if args.json:
        out.print_json(
            {
                **workflow_json(record),
                "params": params,
                "nodes": nodes,
                "definition": json.loads(record.definition),
            }
        )
        return EXIT_OK
    out.print_fields(
        [
            ("Id", workflow.id),
            ("Version", workflow.version),
            ("Created", out.format_time(record.created)),
            ("Owner", record.owner or "<anonymous>"),
            ("Name", workflow.name or "<no name>"),
            ("Active", "yes" if record.active else "no"),
        ]
    )
    out.print_line()
    if params:
        out.print_table(
            ["name", "kind", "default", "required"],
            (
                [
                    p["name"],
                    p["kind"],
                    "-" if p["default"] is None else p["default"],
                    "yes" if p["required"] else "no",
                ]
                for p in params
            ),
            title="Parameters",
        )
    else:
        out.print_line("Parameters     <none>")
    out.print_line()
    out.print_table(
        ["name", "op", "inputs"],
        (
            [n["name"], n["op"], ", ".join(f"{k}={v}" for k, v in n["inputs"].items()) or "-"]
            for n in nodes
        ),
        title="Nodes",
    )
    return EXIT_OK


def _input_text(node: NodeDef, port: str) -> str:
    """``Table/data`` for a reference, ``$epsilon`` for a parameter, the rendered constant."""
    source = node.inputs[port]
    if isinstance(source, NodeRef):
        return str(source)
    if isinstance(source, ParamRef):
        return f"${source.name}"
    assert isinstance(source, Constant)
    spec = default_registry().get(node.op)
    declared = spec.input(port) if spec is not None else None
    if declared is None:
        return json.dumps(source.value, default=str)
    try:
        return render(declared.dtype, source.value)
    except AccioError:
        return repr(source.value)


def describe_operator(args: argparse.Namespace) -> int:
    spec = default_registry().require(args.id)
    if args.json:
        out.print_json(spec.describe())
        return EXIT_OK
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
