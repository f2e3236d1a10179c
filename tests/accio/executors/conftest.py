"""Plugin modules written on the fly, each with a name of its own (``sys.modules`` is shared)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_ids = itertools.count()

PRINTER = """
import os
import time

from accio.ops.api import Port, operator


@operator(category="test", help="Print lines at a pace, return the worker's pid and a value.")
class {op}:
    class Inputs:
        lines = Port("integer", default=0)
        every = Port("double", default=0.0)

    class Outputs:
        value = Port("double")
        pid = Port("long")

    def run(self, inputs, ctx):
        for i in range(inputs["lines"]):
            print(f"line {{i}}", flush=True)
            time.sleep(inputs["every"])
        return {{"value": {value}, "pid": os.getpid()}}


def operators():
    return [{op}]
"""

Writer = Callable[..., str]


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` (spawned workers inherit it); its modules are forgotten
    afterwards."""
    root = tmp_path / "plugins"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("ACCIO_PLUGINS", raising=False)  # workers must get the list explicitly
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.startswith("plug_"):
            del sys.modules[name]


@pytest.fixture
def write_plugin(plugin_dir: Path) -> Writer:
    """``write_plugin(value=1.0, module=None)``: (re)writes a plugin module declaring one
    operator ``Printer``; returns the module name."""

    def write(value: float = 1.0, module: str | None = None) -> str:
        name = module or f"plug_{next(_ids)}_{id(plugin_dir) % 10_000}"
        (plugin_dir / f"{name}.py").write_text(PRINTER.format(op="Printer", value=value))
        return name

    return write
