"""``accio tune``: search a workflow's parameters for the configurations that optimise metrics.

The study is stated in a JSON spec (README, "Tuning"); every evaluation is an ordinary run
submitted through the client contract, so it works locally and against a server. Optuna is
imported only when the command runs (``accio --help`` never loads it); when it is missing the
command says how to install it (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, command, open_client
from accio.errors import EXIT_OK, EXIT_RUNTIME, UsageError


def register(subparsers: Any) -> None:
    tune = subparsers.add_parser(
        "tune",
        help="search workflow parameters for the best configurations (Optuna)",
        description="Run the tuning study of SPEC.json: objectives and constraints over metric "
        "outputs ('Node/port') or parameters, a search space over workflow parameters and a "
        "budget of evaluations. Every evaluation is an ordinary run (memoized, listed with "
        "'accio get runs --tag tune'). Prints the best configuration and, with several "
        "objectives, the Pareto front. With a study journal (--study, or 'study' in the "
        "spec) an interrupted study resumes without re-executing finished evaluations.",
    )
    tune.add_argument("spec", metavar="SPEC.json", help="the study specification")
    tune.add_argument(
        "params", nargs="*", metavar="name=value", help="fixed parameters (over the spec's)"
    )
    tune.add_argument(
        "--budget",
        type=_positive,
        metavar="N",
        help="distinct configurations to evaluate in the study (default: the spec's)",
    )
    tune.add_argument(
        "--study",
        metavar="FILE",
        help="Optuna journal file keeping the study (default: the spec's 'study', else none)",
    )
    add_json_flag(tune)
    tune.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    tune.set_defaults(handler=command(cmd_tune))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _assignments(items: list[str]) -> dict[str, str]:
    """``name=value`` words as fixed parameters (values parsed against the workflow's types)."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"malformed parameter {item!r}: expected name=value")
        params[key] = value
    return params


def cmd_tune(args: argparse.Namespace) -> int:
    from accio.client.tuning import (
        Evaluation,
        format_evaluation,
        import_optuna,
        tune_from_file,
    )

    import_optuna()  # before anything else: say how to install it, whatever the spec holds
    client = open_client()
    progress = None
    if not args.quiet:

        def progress(e: Evaluation) -> None:
            mark = "ok" if e.feasible else ("--" if e.state == "success" else e.state)
            print(f"  [{mark}] {format_evaluation(e)}", file=sys.stderr, flush=True)

    result = tune_from_file(
        client,
        args.spec,
        study=args.study,
        budget=args.budget,
        params=_assignments(args.params),
        on_evaluation=progress,
    )
    if args.json:
        out.print_json(result.to_dict())
    else:
        out.print_line(result.summary())
    if result.best is None:
        out.error([f"{args.spec}: no evaluation succeeded: see 'accio get runs --tag tune'"])
        return EXIT_RUNTIME
    return EXIT_OK
