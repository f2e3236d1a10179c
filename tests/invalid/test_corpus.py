"""The corpus of invalid definitions: every file must fail with exactly the errors we expect.

Layout (paths relative to this directory):

* ``workflows/*.json``: invalid workflow definitions, one problem each (``several_errors.json``
  has many, to show that all of them are reported at once);
* ``runs/*.json``: invalid run definitions, all checked against the valid
  ``runs/corpus_workflow.json`` (which is not part of the corpus);
* ``expected.json``: for each corpus file, the exact ``[{"path", "message"}]`` errors.

Each file is checked twice: through the library (``validate_workflow``, or ``parse_run`` then
``resolve_run``) and through the real ``accio validate`` command, which must exit with 2, print
``ERROR: <file>: <path>: <message>`` for each error and never show a traceback. The command runs
once per directory (``accio validate`` takes many files) to keep the suite fast.

To see what the validator currently says about some files (when updating ``expected.json`` after a
deliberate change of a message; read every message before recording it)::

    .venv/bin/python tests/invalid/test_corpus.py workflows/missing_op.json ...
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from accio.definitions.documents import load_workflow
from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import Workflow
from accio.definitions.run import parse_run, resolve_run
from accio.definitions.workflow import validate_workflow
from accio.errors import DefinitionError, Problem
from accio.ops.registry import OperatorRegistry
from accio.testing import registry

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS_WORKFLOW = HERE / "runs" / "corpus_workflow.json"
EXPECTED_FILE = HERE / "expected.json"
KINDS = ("workflows", "runs")

#: Files on which ``accio validate`` knowingly disagrees with the library (reported, not fixed
#: yet). Strict: once the command is fixed the test fails until the entry is removed.
CLI_KNOWN_ISSUES: dict[str, str] = {}

Error = tuple[str, str]


def corpus_files(kind: str | None = None) -> list[str]:
    """Corpus files as paths relative to this directory (``runs/seed_float.json``)."""
    files = [
        f"{k}/{p.name}"
        for k in KINDS
        if kind in (None, k)
        for p in sorted((HERE / k).glob("*.json"))
        if p != CORPUS_WORKFLOW
    ]
    return sorted(files)


@cache
def expected() -> dict[str, list[Error]]:
    raw: dict[str, list[dict[str, str]]] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return {rel: [(e["path"], e["message"]) for e in errors] for rel, errors in raw.items()}


@cache
def _registry() -> OperatorRegistry:
    return registry()


@cache
def _corpus_workflow() -> Workflow:
    workflow, warnings = load_workflow(CORPUS_WORKFLOW, _registry())
    assert not warnings
    return workflow


def _errors(problems: list[Problem] | tuple[Problem, ...]) -> list[Error]:
    return [(p.path, p.message) for p in problems if p.severity == "error"]


def library_errors(rel: str) -> list[Error]:
    """The errors the library reports for one corpus file, in the order it reports them."""
    path = HERE / rel
    try:
        document = read_json_file(path)
    except DefinitionError as exc:
        return _errors(exc.errors)
    if rel.startswith("runs/"):
        run, problems = parse_run(document, file=str(path))
        if run is None:
            return _errors(problems.errors)
        try:
            resolve_run(run, _corpus_workflow(), _registry(), seed=1)
        except DefinitionError as exc:
            return _errors(exc.errors)
        return []
    workflow, problems = validate_workflow(
        document, _registry(), file=str(path), default_id=workflow_id_from_path(path)
    )
    if problems.errors:
        assert workflow is None
    return _errors(problems.errors)


# --------------------------------------------------------------------------- the corpus itself


def test_corpus_is_large_and_every_file_has_an_expectation() -> None:
    files = corpus_files()
    assert len(files) >= 60
    assert len(corpus_files("workflows")) >= 40
    assert len(corpus_files("runs")) >= 30
    assert sorted(expected()) == files, "expected.json and the corpus files must match"
    for rel, errors in expected().items():
        assert errors, f"{rel}: every corpus file is invalid, so it expects at least one error"
        assert all(message for _, message in errors), rel


def test_expected_json_entries_are_path_and_message_only() -> None:
    raw = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    for rel, errors in raw.items():
        for error in errors:
            assert sorted(error) == ["message", "path"], rel
            assert isinstance(error["path"], str) and isinstance(error["message"], str), rel


def test_corpus_workflow_is_valid_and_uses_every_type_of_parameter() -> None:
    workflow = _corpus_workflow()
    kinds = {p.name: str(p.kind) for p in workflow.params}
    assert kinds == {
        "origin": "double",
        "eps": "double",
        "rows": "integer",
        "label": "string",
        "radius": "distance",
        "window": "duration",
        "start": "timestamp",
        "weights": "map(string, double)",
        "values": "list(double)",
    }
    required = [p.name for p in workflow.params if not p.optional]
    assert required == ["origin"]


# --------------------------------------------------------------------------- through the library


@pytest.mark.parametrize("rel", corpus_files())
def test_library_reports_exactly_the_expected_errors(rel: str) -> None:
    assert sorted(library_errors(rel)) == sorted(expected()[rel])


# --------------------------------------------------------------------------- through the CLI


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def reports(self) -> dict[str, dict[str, Any]]:
        """``--json`` reports by absolute file name."""
        return {r["file"]: r for r in json.loads(self.stdout)}


def accio_command() -> str:
    candidate = Path(sys.executable).parent / "accio"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("accio")
    assert found, "the accio console script is not installed (pip install -e .)"
    return found


def run_accio(home: Path, *args: str) -> CliResult:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "ACCIO_PLUGINS")}
    env.update(ACCIO_PLUGINS="accio.testing:operators", ACCIO_HOME=str(home), NO_COLOR="1")
    proc = subprocess.run(
        [accio_command(), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def cli_name(rel: str) -> str:
    """How a corpus file is named on the command line (and so in ERROR lines)."""
    return (HERE / rel).relative_to(REPO).as_posix()


def error_line(rel: str, path: str, message: str) -> str:
    where = f"{cli_name(rel)}: {path}" if path else cli_name(rel)
    return f"{where}: {message}"


def validate_args(files: list[str], *, as_json: bool = True) -> list[str]:
    args = ["validate", *(["--json"] if as_json else []), *(cli_name(f) for f in files)]
    if any(f.startswith("runs/") for f in files):
        args += ["--workflow", cli_name("runs/corpus_workflow.json")]
    return args


@pytest.fixture(scope="module")
def accio_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``validate`` stores nothing; a private home makes sure of it."""
    return tmp_path_factory.mktemp("accio-home")


@pytest.fixture(scope="module")
def cli_batches(accio_home: Path) -> dict[str, CliResult]:
    """One ``accio validate --json`` over all workflow files, one over all run files."""
    return {kind: run_accio(accio_home, *validate_args(corpus_files(kind))) for kind in KINDS}


def _cli_params() -> list[Any]:
    params = []
    for rel in corpus_files():
        marks = []
        if rel in CLI_KNOWN_ISSUES:
            marks.append(pytest.mark.xfail(strict=True, reason=CLI_KNOWN_ISSUES[rel]))
        params.append(pytest.param(rel, marks=marks, id=rel))
    return params


@pytest.mark.parametrize("rel", _cli_params())
def test_cli_reports_exactly_the_expected_errors(
    rel: str, cli_batches: dict[str, CliResult]
) -> None:
    result = cli_batches[rel.split("/")[0]]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 2, result.stderr[-2000:]
    want = sorted(error_line(rel, path, message) for path, message in expected()[rel])
    prefix = f"ERROR: {cli_name(rel)}: "
    got = sorted(
        line.removeprefix("ERROR: ")
        for line in result.stderr.splitlines()
        if line.startswith(prefix)
    )
    assert got == want
    report = result.reports()[str(HERE / rel)]
    assert report["valid"] is False
    assert sorted(report["errors"]) == want


def test_cli_batches_report_nothing_but_the_corpus_errors(
    cli_batches: dict[str, CliResult],
) -> None:
    """Every stderr line of the batch runs is an ERROR line of some corpus file."""
    names = tuple(f"ERROR: {cli_name(rel)}: " for rel in corpus_files())
    for result in cli_batches.values():
        stray = [line for line in result.stderr.splitlines() if not line.startswith(names)]
        assert stray == []
        assert len(result.reports()) == len(json.loads(result.stdout))


@pytest.mark.parametrize(
    "rel",
    [
        "workflows/json_syntax_error.json",
        "workflows/several_errors.json",
        "runs/several_errors.json",
        "runs/constraint_violation.json",
    ],
)
def test_cli_single_file_exit_code_and_output(rel: str, accio_home: Path) -> None:
    result = run_accio(accio_home, *validate_args([rel], as_json=False))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    want = sorted(f"ERROR: {error_line(rel, p, m)}" for p, m in expected()[rel])
    assert sorted(result.stderr.splitlines()) == want


def test_cli_accepts_the_corpus_workflow(accio_home: Path) -> None:
    """The runs are rejected for their own faults, not because their workflow is broken."""
    result = run_accio(accio_home, "validate", cli_name("runs/corpus_workflow.json"))
    assert result.returncode == 0, result.stderr
    assert "Validated workflow corpus_workflow" in result.stdout
    assert result.stderr == ""


if __name__ == "__main__":
    # Print the validator's current errors for the given corpus files, in expected.json form.
    current = {
        rel: [{"path": p, "message": m} for p, m in library_errors(rel)] for rel in sys.argv[1:]
    }
    print(json.dumps(current, indent=2, ensure_ascii=False))
