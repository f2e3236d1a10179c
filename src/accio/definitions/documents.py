"""High-level entry points: a definition file or document in, a validated object out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accio.definitions.load import read_json_file, workflow_id_from_path
from accio.definitions.model import RunDef, Workflow
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
    run, problems = parse_run(document, file=file)
    problems.raise_if_errors()
    assert run is not None
    return run


def load_run(path: str | Path) -> RunDef:
    """Read and parse a run definition file (checked against its workflow later)."""
    return run_from_document(read_json_file(path), file=str(path))


__all__ = [
    "DefinitionError",
    "load_run",
    "load_workflow",
    "run_from_document",
    "workflow_from_document",
]
