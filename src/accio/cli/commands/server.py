"""``accio server start|stop|status`` (the per-home scheduler process) and ``accio gc``.

``accio submit`` starts a scheduler on demand that exits when idle; ``server start`` starts one
that runs until ``server stop`` (or for ``--idle-timeout`` idle seconds).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import command, open_client
from accio.config import Settings
from accio.engine import daemon
from accio.errors import EXIT_OK, RuntimeFailure, UsageError
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
        default=os.environ.get("ACCIO_HTTP", "127.0.0.1:8765"),
        metavar="HOST:PORT",
        help="where start serves the web UI and REST API (default $ACCIO_HTTP or 127.0.0.1:8765)",
    )
    server.add_argument("--no-http", action="store_true", help="start: scheduler only")
    server.set_defaults(handler=command(cmd_server))

    gc = subparsers.add_parser(
        "gc",
        help="delete artifacts that no run or cache entry uses",
        description="Garbage-collect the artifact store: files no node output or cache entry "
        "refers to are deleted.",
    )
    gc.add_argument("--json", action="store_true", help="machine-readable output")
    gc.set_defaults(handler=command(cmd_gc))


def cmd_server(args: argparse.Namespace) -> int:
    action = args.action.lower()
    if args.idle_timeout is not None and args.idle_timeout <= 0:
        raise UsageError("--idle-timeout must be > 0")
    settings = Settings.from_env()
    if action == "start":
        http = None if args.no_http else args.http
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
    pid = daemon.running_pid(settings.home)
    if daemon.is_running(settings.home):
        out.print_line(f"Scheduler already running (pid {pid or '?'}, home {settings.home})")
        return EXIT_OK
    if foreground:
        out.info(f"scheduler running in the foreground for {settings.home}; Ctrl-C stops it")
        return daemon.serve_foreground(settings, idle_timeout=idle_timeout, http=http)
    if not daemon.start_background(settings, idle_timeout=idle_timeout, http=http):
        raise RuntimeFailure(f"the scheduler did not start: see {daemon.log_path(settings.home)}")
    pid = daemon.running_pid(settings.home)
    out.print_line(f"Scheduler started (pid {pid or '?'}, home {settings.home})")
    url = daemon.url_path(settings.home)
    for _ in range(100):  # the web server comes up a moment after the scheduler
        if url.exists() or http is None:
            break
        time.sleep(0.05)
    if url.exists():
        out.print_line(f"Web UI and REST API at {url.read_text().strip()}")
    return EXIT_OK


def _status(settings: Settings, as_json: bool) -> int:
    running = daemon.is_running(settings.home)
    pid = daemon.running_pid(settings.home) if running else None
    client = open_client(autostart=False, operators=False)
    counts = {
        state: client.count_runs(RunsFilter(states=(state,), top_level_only=True))
        for state in UNFINISHED_RUN_STATES
    }
    if as_json:
        out.print_json(
            {
                "running": running,
                "pid": pid,
                "home": str(settings.home),
                "log": str(daemon.log_path(settings.home)),
                "active_runs": counts,
            }
        )
        return EXIT_OK
    out.print_fields(
        [
            ("Scheduler", f"running (pid {pid or '?'})" if running else "not running"),
            ("Home", settings.home),
            ("Log", daemon.log_path(settings.home)),
            ("Active runs", ", ".join(f"{n} {s}" for s, n in counts.items())),
        ]
    )
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    client = open_client(autostart=False, operators=False)
    files, size = client.gc()
    if args.json:
        out.print_json({"files": files, "bytes": size})
    else:
        out.print_line(f"Freed {files} files, {out.format_bytes(size)} ({size} bytes)")
    return EXIT_OK
