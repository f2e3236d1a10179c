"""``accio new operator NAME [--dir D]``: a working plugin skeleton to start from.

It writes a package (``pyproject.toml`` registering the ``accio.operators`` entry point, a
plugin module with one seeded operator drawing per-trace noise from ``ctx.trace_rng``, and a
pytest test built on :mod:`accio.testing`), so that a researcher's first operator runs in
minutes: ``pip install -e D/<package>`` or ``ACCIO_PLUGINS=<package>.plugin:operators``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from accio.cli import render as out
from accio.errors import EXIT_OK, UsageError

_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def register(subparsers: Any) -> None:
    new = subparsers.add_parser(
        "new",
        help="generate a plugin skeleton: accio new operator NAME [--dir D]",
        description="Generate a plugin package with one operator (CamelCase NAME), its entry "
        "point and a pytest test, in D/<name in snake case> (default D: the current directory).",
    )
    new.add_argument("kind", metavar="KIND", help="operator (the only kind)")
    new.add_argument(
        "name", metavar="NAME", help="the operator's CamelCase name, e.g. JitterTraces"
    )
    new.add_argument("--dir", default=".", metavar="D", help="parent directory (default .)")
    new.add_argument("--json", action="store_true", help="print the written files as JSON")
    new.set_defaults(handler=cmd_new)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def cmd_new(args: argparse.Namespace) -> int:
    if args.kind.lower() != "operator":
        raise UsageError(f"cannot generate {args.kind!r}: only 'accio new operator NAME'")
    if not _NAME.match(args.name):
        raise UsageError(f"operator name {args.name!r}: expected CamelCase letters and digits")
    package = f"accio_{snake(args.name)}"
    root = Path(args.dir).expanduser() / package
    if root.exists():
        raise UsageError(f"{root} already exists: choose another --dir or name")
    files = skeleton(args.name, package)
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(str(path))
    if args.json:
        out.print_json({"package": package, "directory": str(root), "files": written})
        return EXIT_OK
    out.print_line(f"Created plugin {package} in {root}")
    for line in written:
        out.print_line(f"  {line}")
    out.print_line(
        f"Try it: ACCIO_PLUGINS={package}.plugin:operators accio describe op {args.name}"
    )
    out.print_line(f"Test it: cd {root} && python -m pytest")
    return EXIT_OK


def skeleton(name: str, package: str) -> dict[str, str]:
    """``{relative path: content}`` of the plugin package."""
    return {
        "pyproject.toml": PYPROJECT.format(name=name, package=package),
        f"{package}/__init__.py": f'"""Accio plugin {package}: the {name} operator."""\n',
        f"{package}/plugin.py": PLUGIN.format(name=name, package=package),
        f"tests/test_{snake(name)}.py": TEST.format(name=name, package=package),
        "README.md": README.format(name=name, package=package),
    }


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1.0"
description = "An Accio plugin providing the {name} operator"
requires-python = ">=3.11"
dependencies = ["accio"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points."accio.operators"]
{package} = "{package}.plugin:operators"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
pythonpath = ["."]
"""

PLUGIN = '''\
"""The {name} operator: Gaussian jitter on the ``x`` column, drawn per trace.

Randomness comes from ``ctx.trace_rng(trace id)``: a trace's noise depends only on the node seed
and its own id, never on which other traces are in the dataset nor on their order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext


@operator(category="transform", unstable=True, help="Add Gaussian noise to x, per trace.")
class {name}:
    class Inputs:
        data = Port("dataset", help="a table with columns id (the trace) and x")
        scale = Port("double", default=1.0, min=0, help="standard deviation of the noise")

    class Outputs:
        data = Port("dataset")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        table: pa.Table = inputs["data"]
        scale = float(inputs["scale"])
        ids = table.column("id").to_pylist()
        x = np.asarray(table.column("x").to_numpy(zero_copy_only=False), dtype=float).copy()
        for trace in dict.fromkeys(ids):
            rows = np.flatnonzero(pc.equal(table.column("id"), trace).to_numpy(zero_copy_only=False))
            x[rows] += ctx.trace_rng(str(trace)).normal(0.0, scale, size=len(rows))
        return {{"data": table.set_column(table.schema.get_field_index("x"), "x", pa.array(x))}}


def operators() -> list[type]:
    """The entry point (``accio.operators``): the operator classes of this plugin."""
    return [{name}]
'''

TEST = '''\
"""{name}: deterministic per seed, and each trace's noise independent of the other traces."""

from __future__ import annotations

import pyarrow as pa

from accio.ops.api import spec_of
from accio.ops.context import OperatorContext
from accio.testing import RandomTable
from {package}.plugin import {name}, operators


def run(op: type, inputs: dict, seed: int) -> pa.Table:
    spec = spec_of(op)
    ctx = OperatorContext(spec.name, spec.unstable, seed if spec.unstable else None)
    try:
        return spec.instantiate().run(inputs, ctx)["data"]
    finally:
        ctx.cleanup()


def table() -> pa.Table:
    """Rows from accio.testing's RandomTable, split into two traces."""
    data = run(RandomTable, {{"rows": 6}}, seed=3)
    return data.set_column(0, "id", pa.array(["a", "a", "a", "b", "b", "b"]))


def test_same_seed_same_output_and_traces_are_independent() -> None:
    data = table()
    first = run({name}, {{"data": data, "scale": 0.5}}, seed=7)
    assert first.equals(run({name}, {{"data": data, "scale": 0.5}}, seed=7))
    assert not first.equals(run({name}, {{"data": data, "scale": 0.5}}, seed=8))
    alone = run({name}, {{"data": data.slice(3), "scale": 0.5}}, seed=7)
    assert alone.column("x").to_pylist() == first.column("x").to_pylist()[3:]


def test_zero_scale_changes_nothing() -> None:
    data = table()
    assert run({name}, {{"data": data, "scale": 0.0}}, seed=1).equals(data)


def test_the_entry_point_lists_the_operator() -> None:
    assert operators() == [{name}]
'''

README = """\
# {package}

An [Accio](https://github.com/) plugin with the `{name}` operator.

```sh
pip install -e .                                  # registers the accio.operators entry point
ACCIO_PLUGINS={package}.plugin:operators accio describe op {name}   # or without installing
python -m pytest
```
"""
