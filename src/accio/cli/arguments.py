"""A run definition from the command line: ``submit`` and ``expand`` take a file, inline JSON or a
workflow id, then ``name=value`` overrides and flags. Finding its workflow is the client's job
(:mod:`accio.client.lookup`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from accio.errors import DefinitionError, Problem, UsageError

if TYPE_CHECKING:
    from accio.definitions.model import RunDef


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
    # imported here: every command's parser is built at start-up, few commands read a run
    from accio.definitions.documents import load_run, run_from_document
    from accio.definitions.problems import Problems
    from accio.definitions.run import apply_overrides, parse_repeat, parse_seed

    target: str = args.run
    path = Path(target)
    if _is_file(path):
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


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that says no instead of raising for what cannot be a file name (inline
    JSON longer than NAME_MAX raises ``OSError: File name too long``)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
