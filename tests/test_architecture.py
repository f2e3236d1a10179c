"""The architecture holds: import-linter's contracts (pyproject.toml) and no package-level cycle.

Layers alone would let two packages of one layer import each other; the grimp check below
catches a cycle anywhere in the package graph, including through the foundation modules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def package_of(module: str) -> str:
    """``accio.engine.scheduler`` -> ``accio.engine``; top-level modules stand for themselves."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: grimp.ImportGraph, root: str = "accio") -> dict[str, set[str]]:
    """Edges between the direct children of ``root``, from every import between their modules."""
    edges: dict[str, set[str]] = {}
    for importer in graph.modules:
        if not importer.startswith(root + ".") or importer == root:
            continue
        source = package_of(importer)
        edges.setdefault(source, set())
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported == root or not imported.startswith(root + "."):
                continue
            target = package_of(imported)
            if target != source:
                edges[source].add(target)
    return edges


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components)


def test_find_cycles_sees_a_cycle_and_nothing_else() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_package_graph_of_accio_has_no_cycle() -> None:
    graph = grimp.build_graph("accio", cache_dir=None)
    edges = package_graph(graph)
    assert {"accio.values", "accio.ops", "accio.definitions", "accio.engine"} <= set(edges)
    cycles = find_cycles(edges)
    details = []
    for cycle in cycles:
        members = set(cycle)
        for package in cycle:
            for target in sorted(edges[package] & members):
                chain = graph.find_shortest_chain(
                    importer=package, imported=target, as_packages=True
                )
                details.append(f"  {package} -> {target}: {' -> '.join(chain or ())}")
    assert not cycles, "package import cycles:\n" + "\n".join(details)


def test_lint_imports_contracts_are_kept() -> None:
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_pure_contract_lists_every_definitions_module_but_load() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    pure = next(c for c in config["contracts"] if c["id"] == "pure")
    listed = set(pure["source_modules"])
    package = ROOT / "src" / "accio" / "definitions"
    modules = {f"accio.definitions.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    missing = sorted(modules - listed - {"accio.definitions.load"})
    assert not missing, f"add these to the 'pure' contract in pyproject.toml: {missing}"
    assert "accio.definitions.load" not in listed
    assert set(pure["forbidden_modules"]) == {
        "sqlalchemy",
        "fastapi",
        "distributed",
        "dask",
        "httpx",
    }


def test_importing_accio_loads_no_plugin_module() -> None:
    """The static contract's runtime twin: the plugin is found through entry points only."""
    modules = [
        "accio",
        "accio.cli.main",
        "accio.client.local",
        "accio.server.app",
        "accio.service",
        "accio.engine.scheduler",
        "accio.testing",
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'accio_locapriv'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "line", "contract", "message"),
    [
        ("values/types.py", "import accio.client", "layers", "accio.values is not allowed"),
        ("errors.py", "import accio.engine", "layers", "accio.errors is not allowed"),
        ("ops/api.py", "import accio_locapriv", "no-plugin", "accio_locapriv"),
        ("definitions/sweep.py", "import sqlalchemy", "pure", "import sqlalchemy"),
    ],
)
def test_contracts_have_teeth(
    tmp_path: Path, module: str, line: str, contract: str, message: str
) -> None:
    """Each contract breaks on a planted violation (in a copy of the sources)."""
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "src" / "accio" / module).open("a") as source:
        source.write(f"\n{line}  # planted\n")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--contract", contract],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" in result.stdout and message in result.stdout


#: One concept per module: past this, a module mixes concerns (the architecture issue's bound).
MAX_MODULE_LINES = 500


def test_no_engine_module_is_over_the_size_bound() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "src" / "accio").rglob("*.py")
    }
    assert sizes, "no module found"
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these modules by concern: {too_long}"
