"""``accio server start|stop|status`` (the per-home scheduler process) and ``accio gc``.

``accio submit`` starts a scheduler on demand that exits when idle; ``server start`` starts one
that runs until ``server stop`` (or for ``--idle-timeout`` idle seconds). Both serve the web UI
and REST API unless ``--no-http`` or ``ACCIO_HTTP=off``; ``server start`` insists on its address
(exit 1 if malformed, 4 if it cannot be bound), an auto-start falls back to a free port.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import cli_selection, command, open_client
from accio.config import DEFAULT_HTTP, EXECUTOR_NAMES, Settings, parse_http_address
from accio.engine import daemon
from accio.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    AccioError,
    RuntimeFailure,
    UsageError,
)
from accio.states import UNFINISHED_RUN_STATES
from accio.storage.records import RunsFilter


def register(subparsers: Any) -> None:
    server = subparsers.add_parser(
        "server",
        help="start, stop or inspect the scheduler of this Accio home",
        description="Manage the scheduler process (one per Accio home).",
    )
    server.add_argument("action", metavar="ACTION", help="start, stop or status")
    server.add_argument(
        "--foreground", action="store_true", help="start: run in this process until interrupted"
    )
    server.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="start: exit after this many idle seconds (default: run until stopped)",
    )
    server.add_argument("--json", action="store_true", help="status: machine-readable output")
    server.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="where start serves the web UI and REST API (default $ACCIO_HTTP or "
        f"{DEFAULT_HTTP}; port 0 picks a free one). A bad address exits 1, a port that cannot "
        "be bound 4, and no scheduler is left running",
    )
    server.add_argument("--no-http", action="store_true", help="start: scheduler only")
    server.add_argument(
        "--executor",
        choices=EXECUTOR_NAMES,
        default=None,
        help="start: where nodes run (default $ACCIO_EXECUTOR or the config file's, else "
        "local): local processes, a Dask cluster, or SLURM/PBS/SGE batch jobs",
    )
    server.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDRESS",
        help="start --executor dask: the Dask scheduler (tcp://host:8786); without it, a "
        "Dask LocalCluster on this machine",
    )
    server.set_defaults(handler=command(cmd_server))

    # accio gc: accio.cli.commands.gc (retention policies)


def cmd_server(args: argparse.Namespace) -> int:
    action = args.action.lower()
    if args.idle_timeout is not None and args.idle_timeout <= 0:
        raise UsageError("--idle-timeout must be > 0")
    selection = cli_selection()
    if action in ("start", "stop") and selection.source in ("flag", "env") and selection.cluster:
        name = selection.cluster.name  # never start or stop this machine's one instead
        raise UsageError(
            f"'accio server {action}' acts on this machine's scheduler, not on cluster "
            f"{name!r}'s: drop --cluster (or unset ACCIO_CLUSTER), or pass --cluster local"
        )
    settings = Settings.from_env()
    if action != "start" and (args.executor or args.dask_scheduler):
        raise UsageError("--executor and --dask-scheduler go with 'accio server start'")
    if args.executor:
        settings = replace(settings, executor=args.executor)
    if args.dask_scheduler:
        if settings.executor != "dask":
            raise UsageError("--dask-scheduler needs the dask executor (--executor dask)")
        settings = replace(settings, dask_address=args.dask_scheduler.strip())
    if action == "start":
        if args.no_http:
            http = None
        elif args.http is not None:
            http = args.http
        else:
            http = settings.http if settings.serve_http else None
        if http is not None:
            parse_http_address(http)  # a malformed address is a usage error: nothing starts
        return _start(settings, args.foreground, args.idle_timeout, http)
    if action == "stop":
        if daemon.stop(settings.home):
            out.print_line(f"Scheduler stopped ({settings.home})")
        else:
            out.print_line(f"No scheduler running ({settings.home})")
        return EXIT_OK
    if action == "status":
        return _status(settings, args.json)
    raise UsageError(f"unknown server action {args.action!r}: expected start, stop or status")


def _start(
    settings: Settings, foreground: bool, idle_timeout: float | None, http: str | None
) -> int:
    home = settings.home
    if daemon.is_running(home):
        pid = daemon.running_pid(home)
        out.print_line(f"Scheduler already running (pid {pid or '?'}, home {home})")
        _print_url(home, wanted=http is not None)
        _say_if_other_executor(settings)
        return EXIT_OK
    if foreground:
        out.info(f"scheduler running in the foreground for {home}; Ctrl-C stops it")
        code = daemon.serve_foreground(
            settings, idle_timeout=idle_timeout, http=http, strict_http=True
        )
        if code == EXIT_RUNTIME:
            raise RuntimeFailure(f"the scheduler did not start: see {daemon.log_path(home)}")
        return code
    report = daemon.launch(settings, idle_timeout=idle_timeout, http=http, strict=True)
    if not report.running:
        why = report.message or f"see {daemon.log_path(home)}"
        errors = {EXIT_USAGE: UsageError, EXIT_INTERNAL: AccioError}
        raise errors.get(report.code, RuntimeFailure)(f"the scheduler did not start: {why}")
    pid = daemon.running_pid(home)
    if report.already:  # another start won the race
        out.print_line(f"Scheduler already running (pid {pid or '?'}, home {home})")
        _print_url(home, wanted=http is not None)
        return EXIT_OK
    out.print_line(f"Scheduler started (pid {pid or '?'}, home {home})")
    if report.url:
        out.print_line(f"Web UI and REST API at {report.url}")
    return EXIT_OK


def _say_if_other_executor(settings: Settings) -> None:
    """This home's running scheduler keeps its executor: say so when another one was asked
    for (a client of this home: never a server's, whatever cluster is the default)."""
    from accio.client.client import Client

    with Client(settings=settings, autostart=False) as local:
        running = local.scheduler_status().executor
    if running and running != settings.executor:
        out.info(
            f"it runs the {running} executor, not {settings.executor}: 'accio server stop' "
            "first to change it (running nodes end first)"
        )


def _print_url(home: Path, *, wanted: bool) -> None:
    """The running scheduler's web address, or how to get one when it serves none."""
    url = daemon.server_url(home)
    if url is not None:
        out.print_line(f"Web UI and REST API at {url}")
    elif wanted:
        out.print_line(NO_HTTP_HINT)


#: Said when the running scheduler serves no web UI (started with --no-http or ACCIO_HTTP=off).
NO_HTTP_HINT = (
    "It serves no web UI or REST API (started with --no-http or ACCIO_HTTP=off): restart it "
    "with 'accio server stop' then 'accio server start'"
)


def _status(settings: Settings, as_json: bool) -> int:
    """The scheduler this invocation talks to: this home's, or a server's (``--cluster``), as
    the server reports it (nothing of this machine's home then)."""
    client = open_client(autostart=False, operators=False)
    status = client.scheduler_status()
    counts = {
        state: client.count_runs(RunsFilter(states=(state,), top_level_only=True))
        for state in UNFINISHED_RUN_STATES
    }
    data: dict[str, Any]
    fields: list[tuple[str, Any]]
    if status.remote:
        selection = cli_selection()
        cluster = selection.cluster.name if selection.cluster is not None else None
        data = {"remote": True, "cluster": cluster, "url": status.url, "running": status.running}
        fields = [
            ("Server", f"{status.url}" + (f" (cluster {cluster})" if cluster else "")),
            ("Scheduler", "running" if status.running else "not running"),
        ]
    else:
        running, pid, url = status.running, status.pid, status.url
        log = daemon.log_path(settings.home)
        data = {
            "running": running,
            "pid": pid,
            "url": url,
            "home": str(settings.home),
            "log": str(log),
        }
        fields = [
            ("Scheduler", f"running (pid {pid or '?'})" if running else "not running"),
            ("Web UI", url if url else ("not served" if running else "-")),
            ("Home", settings.home),
            ("Log", log),
        ]
    # Storage failing (disk full, database locked): dispatch paused until it clears.
    condition = status.condition
    if as_json:
        out.print_json(
            {**data, "executor": status.executor, "active_runs": counts, "condition": condition}
        )
        return EXIT_OK
    out.print_fields(
        [
            *fields,
            *([("Executor", status.executor)] if status.executor else []),
            ("Active runs", ", ".join(f"{n} {s}" for s, n in counts.items())),
            *([("Condition", f"paused, retrying: {condition}")] if condition else []),
        ]
    )
    return EXIT_OK
