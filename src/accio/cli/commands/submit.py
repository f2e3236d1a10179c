"""``accio submit``: create a run (or a sweep) and hand it to the scheduler; ``--wait`` follows it.

``--json`` prints the REST API's ``SubmitOut`` (plus ``state`` after ``--wait``).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.arguments import add_run_arguments, run_from_arguments
from accio.cli.commands.common import (
    FINISHED,
    RUN_STATES,
    SHOWN_CHILDREN,
    add_json_flag,
    command,
    counts_text,
    duration,
    open_client,
    resolve_all,
)
from accio.client.progress import PROGRESS_GROUPS, failure_reason, node_progress, summarize
from accio.errors import EXIT_OK, EXIT_RUNTIME
from accio.storage.records import RunRecord

if TYPE_CHECKING:
    from accio.client.contract import AccioClient, Submission


def register(subparsers: Any) -> None:
    submit = subparsers.add_parser(
        "submit",
        help="create a run (or a parameter sweep) and hand it to the scheduler",
        description="Submit a run: a run definition file, inline JSON, or a workflow "
        "id[:version], followed by name=value parameter overrides. Flags replace the file's "
        "name, notes, repeat and seed; --tags adds tags. The workflow cannot be overridden.",
    )
    add_run_arguments(submit)
    submit.add_argument("--wait", action="store_true", help="follow the run until it finishes")
    submit.add_argument("--quiet", action="store_true", help="print only the created run ids")
    add_json_flag(submit)
    submit.add_argument(
        "--no-start", action="store_true", help="do not start the scheduler in the background"
    )
    submit.add_argument(
        "--force",
        action="store_true",
        help="re-execute every node whatever the cache holds; results replace cache entries",
    )
    submit.add_argument(
        "--force-node",
        action="append",
        default=[],
        metavar="NAME",
        help="re-execute this node whatever the cache holds (repeatable)",
    )
    submit.set_defaults(handler=command(cmd_submit))

    wait = subparsers.add_parser(
        "wait",
        help="wait for runs to end; exit 0 if all succeeded, 4 otherwise (with the reasons)",
        description="Wait until every given run has ended. Exit code 0 when all succeeded, 4 "
        "when any failed or was killed; each failure is printed with its reason.",
    )
    wait.add_argument("runs", nargs="+", metavar="RUN", help="run ids or unique id prefixes")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds (exit 4)")
    wait.add_argument("--quiet", action="store_true", help="print nothing but failures")
    add_json_flag(wait)
    wait.set_defaults(handler=command(cmd_wait))


def cmd_wait(args: argparse.Namespace) -> int:
    from accio.client.models import RunEndOut, WaitOut

    client = open_client(operators=False)
    runs, code = resolve_all(client, args.runs)
    deadline = None if args.timeout is None else time.time() + args.timeout
    ended: list[RunEndOut] = []
    show = not (args.quiet or args.json) and len(runs) == 1 and deadline is None
    for run in runs:
        left = None if deadline is None else max(0.0, deadline - time.time())
        final = (
            client.wait(run.id, timeout=left, poll=0.2)
            if not show
            else follow(client, run.id, show=True)
        )
        ended.append(
            RunEndOut(
                id=final.id,
                state=final.state,
                node_progress=node_progress(client, final),
                failure_reason=failure_reason(client, final),
            )
        )
        if not args.json:
            if args.quiet:
                if final.state != "success":
                    out.error([f"run {final.id[:12]} {final.state}: {ended[-1].failure_reason}"])
            else:
                print_outcome(client, final)
    success = all(e.state == "success" for e in ended)
    if args.json:
        out.print_json(WaitOut(runs=ended, success=success).model_dump(mode="json"))
    return code or (EXIT_OK if success else EXIT_RUNTIME)


def cmd_submit(args: argparse.Namespace) -> int:
    run = run_from_arguments(args)
    client = open_client(autostart=not args.no_start)
    sub = client.submit(
        run,
        workflow_file=args.workflow_file,
        start=not args.no_start,
        force=args.force,
        force_nodes=args.force_node,
    )
    out.warn(sub.warnings)
    if args.quiet:
        for run_id in sub.run_ids:
            out.print_line(run_id)
    elif not args.json:
        _print_created(sub)
        url = None if args.no_start else client.scheduler_status().url
        if url:  # the UI is served by the scheduler that runs this submission
            out.print_line(f"Web UI: {url}/runs/{sub.run_id}")
    if not args.wait:
        if args.json:
            out.print_json(submission_json(sub))
        return EXIT_OK
    final = _follow(client, sub, show=not (args.quiet or args.json))
    if args.json:
        out.print_json(
            {
                **submission_json(sub),
                "state": final.state,
                "node_progress": node_progress(client, final),
                "failure_reason": failure_reason(client, final),
            }
        )
    elif not args.quiet:
        print_outcome(client, final)
    return EXIT_OK if final.state == "success" else EXIT_RUNTIME


def submission_json(sub: Submission) -> dict[str, Any]:
    """The REST API's answer to a submission (``POST /runs``)."""
    from accio.client.models import SubmitOut, problem_items

    return SubmitOut(
        run_id=sub.run_id,
        child_ids=list(sub.child_ids),
        workflow_id=sub.workflow.id,
        workflow_version=sub.workflow.version,
        seed=sub.seed,
        seed_given=sub.seed_given,
        warnings=problem_items(sub.warnings),
    ).model_dump(mode="json")


def _print_created(sub: Submission) -> None:
    if sub.child_ids:
        out.print_line(f"Created run {sub.run_id} (parent of {len(sub.child_ids)} children)")
        for child in sub.child_ids[:SHOWN_CHILDREN]:
            out.print_line(f"Created run {child}")
        hidden = len(sub.child_ids) - SHOWN_CHILDREN
        if hidden > 0:
            out.print_line(
                f"... and {hidden} more children: accio get runs --parent {sub.run_id[:12]}"
            )
        out.print_line(f"Created {len(sub.run_ids)} runs successfully")
    else:
        out.print_line(f"Created run {sub.run_id}")
    if not sub.seed_given:
        out.print_line(f"Seed: {sub.seed} (random; reuse with --seed={sub.seed})")


def child_counts(client: AccioClient, parent_id: str) -> dict[str, int]:
    """Children per run state, every state listed in the vocabulary's order."""
    counts = client.child_counts(parent_id)
    return {state: counts.get(state, 0) for state in RUN_STATES}


def _follow(client: AccioClient, sub: Submission, *, show: bool) -> RunRecord:
    """Wait for the run, with a live progress bar in nodes on a terminal."""
    return follow(client, sub.run_id, show=show)


def follow(client: AccioClient, run_id: str, *, show: bool) -> RunRecord:
    """Wait for one run; on a terminal, a bar of its nodes (a sweep: every child's nodes)
    labelled done / cached / running / queued / failed."""
    from rich.console import Console

    console = Console(stderr=True)
    if not show or not console.is_terminal:
        return client.wait(run_id, poll=0.2)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    last = 0.0
    with Progress(
        TextColumn("[bold]nodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[states]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("nodes", total=None, states="")

        def update(record: RunRecord) -> None:
            nonlocal last
            if time.time() - last < 0.25 and record.state not in FINISHED:
                return
            last = time.time()
            s = summarize(node_progress(client, record))
            words = ", ".join(f"{s[w]} {w}" for w in PROGRESS_GROUPS if s[w])
            progress.update(task, completed=s["finished"], total=s["total"], states=words)

        return client.wait(run_id, poll=0.1, on_progress=update)


def print_outcome(client: AccioClient, final: RunRecord) -> None:
    """One line per run: its state, its nodes and duration, and why it failed."""
    if final.is_parent:
        what = f"{final.n_children} children: {counts_text(child_counts(client, final.id))}"
    else:
        what = f"nodes: {counts_text(client.node_counts(final.id))}"
    took = duration(final.created, final.completed)
    out.print_line(f"Run {final.id} {final.state} ({what}) in {out.format_duration(took)}")
    if final.state == "success":
        return
    reason = failure_reason(client, final)
    out.error([f"run {final.id[:12]} {final.state}: {reason}"])
    if final.is_parent:
        out.error([f"see 'accio describe run {final.id[:12]}'"])
