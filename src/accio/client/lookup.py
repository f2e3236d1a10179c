"""Finding the workflow a run definition names: pushed workflows first, then files.

Both clients resolve runs this way (the remote one looks pushed workflows up on its server),
and so do ``accio validate`` and ``accio expand``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.config import DEFAULT_MAX_CHILDREN
from accio.definitions.documents import load_run, load_workflow, run_from_document
from accio.definitions.load import split_workflow_spec, workflow_file_beside
from accio.definitions.model import RunDef, Workflow
from accio.definitions.problems import Problems
from accio.definitions.run import apply_overrides, resolve_run
from accio.errors import DefinitionError, NotFoundError, Problem, UsageError
from accio.ops.registry import OperatorRegistry

if TYPE_CHECKING:
    from accio.client.contract import RunSource
    from accio.definitions.sweep import Sweep

#: How many candidates an ambiguous run id prefix names.
MAX_CANDIDATES = 5

#: Looks a workflow spec up among pushed workflows; a client supplies it.
StoredLookup = Callable[[str], Workflow | None]


def find_workflow(
    run: RunDef,
    registry: OperatorRegistry,
    *,
    explicit: str | None = None,
    stored: StoredLookup | None = None,
) -> tuple[Workflow, str, list[Problem]]:
    """The run's workflow, where it came from, and its warnings.

    Order: ``--workflow FILE`` when given; else the pushed workflow; else ``<id>.json`` beside the
    run file.
    """
    if explicit is not None:
        try:
            workflow, warnings = load_workflow(explicit, registry)
        except DefinitionError as exc:
            raise DefinitionError([*run.problems, *exc.problems]) from None
        return _check_id(run, workflow, explicit), str(Path(explicit).resolve()), warnings
    if stored is not None:
        found = stored(run.workflow)
        if found is not None:
            return found, "pushed workflows", []
    if run.file is not None:
        beside = workflow_file_beside(run.file, run.workflow)
        if beside is not None:
            workflow, warnings = load_workflow(beside, registry)
            return _check_id(run, workflow, str(beside)), str(beside), warnings
    wf_id, _ = split_workflow_spec(run.workflow)
    raise DefinitionError(
        [
            *run.problems,
            Problem(
                "workflow",
                f"workflow {run.workflow!r} not found: push it with 'accio push {wf_id}.json', "
                f"pass --workflow FILE, or put {wf_id}.json beside the run file",
                run.file,
            ),
        ]
    )


def _check_id(run: RunDef, workflow: Workflow, where: str) -> Workflow:
    wf_id, version = split_workflow_spec(run.workflow)
    problems = Problems(run.file)
    if workflow.id != wf_id:
        problems.error(
            "workflow", f"names workflow {wf_id!r}, but {where} defines {workflow.id!r}"
        )
    elif version is not None and not workflow.version.startswith(version):
        problems.error(
            "workflow",
            f"asks for version {version}, but {where} is version {workflow.version[:12]}",
        )
    if problems.errors:
        raise DefinitionError([*run.problems, *problems.items])
    return workflow


def prepare_run(
    run: RunSource,
    registry: OperatorRegistry,
    stored: Callable[[str], Workflow | None],
    *,
    workflow_file: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    notes: str | None = None,
    tags: Sequence[str] = (),
    repeat: int | None = None,
    seed: int | None = None,
    max_children: int = DEFAULT_MAX_CHILDREN,
) -> tuple[Sweep, list[Problem]]:
    """A run definition with its overrides, resolved against its workflow (``stored`` looks
    pushed workflows up): the sweep and every warning. A sweep of more than ``max_children``
    children is refused before any child is built."""
    if isinstance(run, Mapping):
        run = run_from_document(dict(run))
    elif not isinstance(run, RunDef):
        run = load_run(run)
    text_params = [
        (k, v if isinstance(v, str) else json.dumps(v)) for k, v in (params or {}).items()
    ]
    run = apply_overrides(
        run, name=name, notes=notes, tags=tags, repeat=repeat, seed=seed, params=text_params
    )
    workflow, _, warnings = find_workflow(
        run,
        registry,
        explicit=str(workflow_file) if workflow_file is not None else None,
        stored=stored,
    )
    sweep = resolve_run(run, workflow, registry, max_children=max_children)
    return sweep, [*warnings, *sweep.warnings]


def pick_run_id(prefix: str, candidates: Sequence[str]) -> str:
    """The one id among ``candidates`` (ids starting with ``prefix``), or a clear error."""
    if not prefix:
        raise UsageError("empty run id")
    if prefix in candidates or len(candidates) == 1:
        return prefix if prefix in candidates else candidates[0]
    if not candidates:
        raise NotFoundError(f"no such run: {prefix}")
    shown = ", ".join(candidates[:MAX_CANDIDATES])
    more = "…" if len(candidates) > MAX_CANDIDATES else ""
    raise UsageError(f"run id prefix {prefix!r} is ambiguous: {shown}{more}")


__all__ = ["StoredLookup", "find_workflow", "pick_run_id", "prepare_run"]
