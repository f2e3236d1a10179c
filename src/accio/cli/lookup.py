"""Finding the workflow a run definition names: pushed workflows first, then files."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from accio.definitions.documents import load_run, load_workflow, run_from_document
from accio.definitions.load import split_workflow_spec, workflow_file_beside
from accio.definitions.model import RunDef, Workflow
from accio.definitions.problems import Problems
from accio.definitions.run import apply_overrides, parse_repeat, parse_seed
from accio.errors import DefinitionError, Problem, UsageError
from accio.ops.registry import OperatorRegistry

#: Looks a workflow spec up among pushed workflows; installed by the engine when storage exists.
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


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by submit and expand: the run, its overrides, its flags."""
    parser.add_argument("run", help="run definition file, inline JSON, or a workflow id[:version]")
    parser.add_argument("params", nargs="*", metavar="name=value", help="parameter overrides")
    parser.add_argument(
        "--workflow",
        dest="workflow_file",
        metavar="FILE",
        help="workflow definition file to use instead of pushed workflows",
    )
    parser.add_argument("--name", help="run name (replaces the file's)")
    parser.add_argument("--notes", help="run notes (replace the file's)")
    parser.add_argument("--tags", help="comma-separated tags (added to the file's)")
    parser.add_argument("--repeat", help="times each combination runs (replaces the file's)")
    parser.add_argument("--seed", help="64-bit seed (replaces the file's)")


def run_from_arguments(args: argparse.Namespace) -> RunDef:
    """The four forms of the seed page: file; workflow k=v; flags; file plus overrides."""
    target: str = args.run
    path = Path(target)
    if path.is_file():
        run = load_run(path)
    elif target.lstrip().startswith("{"):
        from accio.definitions.load import parse_json_text

        run = run_from_document(parse_json_text(target, "<command line>"), file=None)
    elif target.endswith(".json"):
        raise DefinitionError([Problem("", "file not found", target)])
    else:
        run = run_from_document({"workflow": target}, file=None)
    overrides: list[tuple[str, str]] = []
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"malformed parameter {item!r}: expected name=value")
        overrides.append((key, value))
    problems = Problems("<command line>")
    seed = parse_seed(args.seed, "--seed", problems) if args.seed is not None else None
    repeat = parse_repeat(args.repeat, "--repeat", problems) if args.repeat is not None else None
    if problems.errors:
        raise UsageError("; ".join(p.message for p in problems.errors))
    tags = [t.strip() for t in (args.tags or "").split(",") if t.strip()]
    return apply_overrides(
        run,
        name=args.name,
        notes=args.notes,
        tags=tags,
        repeat=repeat,
        seed=seed,
        params=overrides,
    )
