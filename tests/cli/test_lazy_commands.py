"""Start-up: only the typed command's module is imported, and the verb table stays exact."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from accio.cli.main import COMMAND_VERBS, ArgumentParser, build_parser, command_module


@pytest.mark.parametrize("module", sorted(COMMAND_VERBS))
def test_each_module_registers_exactly_its_verbs(module: str) -> None:
    parser = ArgumentParser(prog="accio")
    subparsers = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    command_module(module).register(subparsers)
    assert set(subparsers.choices) == set(COMMAND_VERBS[module])


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_the_full_parser_has_every_verb_and_a_typed_verb_only_its_own() -> None:
    every = {verb for verbs in COMMAND_VERBS.values() for verb in verbs}
    assert _choices(build_parser()) == every | {"help", "version"}
    assert _choices(build_parser("wait")) == {"submit", "wait", "help", "version"}
    assert _choices(build_parser("nonsense")) == every | {"help", "version"}


def test_get_runs_imports_no_other_command() -> None:
    code = (
        "import sys\n"
        "from accio.cli.main import build_parser\n"
        "build_parser('get')\n"
        "print(sorted(m for m in sys.modules if m.startswith('accio.cli.commands.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.rsplit(".", 1)[1] for name in eval(out)}
    assert "get" in loaded
    assert not loaded & {"definitions", "submit", "tune", "plot", "export", "completion"}, loaded
