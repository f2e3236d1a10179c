"""The CLI reaches an Accio home only through the client contract.

Read from the source (AST), so that a reach-in fails here before it breaks ``ACCIO_SERVER``: no
SQLAlchemy, storage backends, executors or engine modules; no ``.runtime`` / ``.storage``
attributes; states from :mod:`accio.states`. Two commands are local by nature and listed with
their reason: ``accio server`` starts and stops this machine's scheduler process, and
``accio verify`` re-hashes this machine's artifact files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "src" / "accio" / "cli"
CLIENT = CLI.parent / "client"

#: Modules of lower layers the CLI may import: definitions and values (reading files given on
#: the command line), operator declarations, records and filters (the contract's types).
ALLOWED_PREFIXES = (
    "accio.cli",
    "accio.client.contract",
    "accio.client.models",
    "accio.client.lookup",
    "accio.client.client",
    "accio.client.remote",
    "accio.client.credentials",
    "accio.client.clusters",  # the named servers file: pure, no HTTP
    "accio.client.export",
    "accio.client.progress",
    "accio.client.tuning",
    "accio.client.figures",
    "accio.definitions",
    "accio.values",
    "accio.ops",
    "accio.errors",
    "accio.config",
    "accio.states",
    "accio.storage.records",
    "accio.__version__",
)
#: (module file, imported module): local-only commands, with the reason in the docstring.
EXCEPTIONS = {
    ("commands/server.py", "accio.engine.daemon"),
    ("commands/server.py", "accio.engine"),
    ("commands/verify.py", "accio.engine.runtime"),
    ("commands/verify.py", "accio.cache.verify"),
    ("commands/accounts.py", "accio.storage.sqlite"),  # users and tokens: the server's home
    ("commands/accounts.py", "accio.storage.accounts"),
}
ATTRIBUTE_EXCEPTIONS = {"commands/verify.py"}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """``name`` is one of ``prefixes`` or inside one (``accio.cli`` does not cover ``accio.client``)."""
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def cli_modules() -> list[Path]:
    return sorted(CLI.rglob("*.py"))


def imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "accio":  # from accio import x: judge accio.x
                names += [f"accio.{a.name}" for a in node.names]
            else:
                names.append(node.module)
    return names


@pytest.mark.parametrize("path", cli_modules(), ids=lambda p: p.relative_to(CLI).as_posix())
def test_cli_module_uses_only_the_contract(path: Path) -> None:
    rel = path.relative_to(CLI).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        name
        for name in imported(tree)
        if within(name, ("accio", "sqlalchemy"))
        and not within(name, ALLOWED_PREFIXES)
        and (rel, name) not in EXCEPTIONS
    ]
    assert bad == [], f"{rel} imports below the client contract: {bad}"
    if rel not in ATTRIBUTE_EXCEPTIONS:
        reach = sorted(
            {
                f"line {n.lineno}: .{n.attr}"
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr in ("runtime", "storage", "_runtime")
            }
        )
        assert reach == [], f"{rel} reaches into client internals: {reach}"


def test_commands_stay_small() -> None:
    """One module per verb or verb group (style guide §6: 150-400 lines)."""
    sizes = {p.name: len(p.read_text().splitlines()) for p in (CLI / "commands").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_the_client_never_imports_the_cli() -> None:
    for path in sorted(CLIENT.rglob("*.py")):
        names = imported(ast.parse(path.read_text(encoding="utf-8")))
        assert not [n for n in names if within(n, ("accio.cli",))], path
