"""High-level entry points: a definition file or document in, a validated object out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accio.definitions.load import parse_json_text, read_json_file, workflow_id_from_path
from accio.definitions.model import RunDef, Workflow
from accio.definitions.problems import Problems
from accio.definitions.run import parse_run
from accio.definitions.workflow import validate_workflow
from accio.errors import DefinitionError, Problem
from accio.ops.registry import OperatorRegistry


def workflow_from_document(
    document: Any,
    registry: OperatorRegistry,
    *,
    file: str | None = None,
    default_id: str | None = None,
) -> tuple[Workflow, list[Problem]]:
    """Validate a decoded workflow; returns it with its warnings, or raises DefinitionError."""
    workflow, problems = validate_workflow(document, registry, file=file, default_id=default_id)
    problems.raise_if_errors()
    assert workflow is not None
    return workflow, problems.warnings


def load_workflow(path: str | Path, registry: OperatorRegistry) -> tuple[Workflow, list[Problem]]:
    """Read and validate a workflow file; its id defaults to the file name."""
    document = read_json_file(path)
    return workflow_from_document(
        document, registry, file=str(path), default_id=workflow_id_from_path(path)
    )


def run_from_document(document: Any, *, file: str | None = None) -> RunDef:
    """A parsed run definition; field problems travel with it (``RunDef.problems``) and are
    reported with those found against its workflow. Raises only when nothing usable is left."""
    run, problems = parse_run(document, file=file)
    if run is None:
        problems.raise_if_errors()
    assert run is not None
    return run


#: A run file may hold just ``id`` or ``id:version`` (definitions.md §7).
BARE_SPEC_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]+(:[0-9a-fA-F]+)?$")


def read_run_file(path: str | Path) -> tuple[RunDef | None, Problems]:
    """Read a run file; content that does not start with ``{`` is a bare ``id[:version]``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        read_json_file(path)  # raises the same clear error as for any definition file
        raise
    if BARE_SPEC_RE.match(text.strip()):
        return parse_run(text.strip(), file=str(path))
    return parse_run(parse_json_text(text, str(path)), file=str(path))


def load_run(path: str | Path) -> RunDef:
    """Read and parse a run definition file (checked against its workflow later)."""
    run, problems = read_run_file(path)
    if run is None:
        problems.raise_if_errors()
    assert run is not None
    return run


__all__ = [
    "DefinitionError",
    "load_run",
    "load_workflow",
    "read_run_file",
    "run_from_document",
    "workflow_from_document",
]
