"""``accio logs RUN NODE [-n N] [-f]``: what a node wrote to stdout and stderr.

``--json`` prints a list of the REST API's ``LogLineOut``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands.common import (
    NODE_TERMINAL,
    add_json_flag,
    command,
    open_client,
    resolve_run,
    split_node_id,
)
from accio.errors import EXIT_OK, UsageError
from accio.storage.records import LogLine, LogStream

if TYPE_CHECKING:
    from accio.client.contract import AccioClient

#: ``logs --follow`` polling period in seconds.
FOLLOW_POLL = 0.5
LOG_STREAMS: tuple[LogStream, ...] = ("stdout", "stderr")


def register(subparsers: Any) -> None:
    logs = subparsers.add_parser(
        "logs",
        help="print what a node wrote to stdout and stderr",
        description="Print a node's log lines, oldest first.",
    )
    logs.add_argument("run", metavar="RUN", help="run id (or RUN/NODE)")
    logs.add_argument("node", metavar="NODE", nargs="?", help="node name")
    logs.add_argument("-n", type=int, default=None, metavar="N", help="only the last N lines")
    for stream in LOG_STREAMS:
        logs.add_argument(
            f"--{stream}",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"include {stream} lines (default: yes)",
        )
        logs.add_argument(
            f"--no{stream}", dest=stream, action="store_false", help=argparse.SUPPRESS
        )
    logs.add_argument("-f", "--follow", action="store_true", help="wait for new lines")
    add_json_flag(logs)
    logs.set_defaults(handler=command(cmd_logs))


def cmd_logs(args: argparse.Namespace) -> int:
    from accio.client.models import LogLineOut

    run_text, node_name = split_node_id(args.run, args.node)
    streams: list[LogStream] = [s for s in LOG_STREAMS if getattr(args, s)]
    if not streams:
        raise UsageError("nothing to show: both stdout and stderr are switched off")
    if args.n is not None and args.n < 0:
        raise UsageError("-n must be >= 0")
    if args.follow and args.json:
        raise UsageError("--follow and --json cannot be combined")
    client = open_client(operators=False)
    run = resolve_run(client, run_text)
    lines = client.logs(run.id, node_name, streams=streams, limit=args.n)
    if args.json:
        out.print_json(
            [
                LogLineOut(ts=x.ts, stream=x.stream, line=x.line).model_dump(mode="json")
                for x in lines
            ]
        )
        return EXIT_OK
    for x in lines:
        out.print_line(x.line)
    if args.follow:
        _follow_logs(client, run.id, node_name, streams, lines)
    return EXIT_OK


def _follow_logs(
    client: AccioClient,
    run_id: str,
    node: str,
    streams: Sequence[LogStream],
    printed: list[LogLine],
) -> None:
    """Poll for new lines until the node is terminal.

    The client returns lines strictly after ``since``; asking from slightly before the last
    printed line and skipping what was printed keeps lines that share its timestamp.
    """
    window = 1e-3
    last = printed[-1].ts if printed else None
    seen = {(x.ts, x.stream, x.line) for x in printed if last is not None and x.ts > last - window}
    while True:
        finished = client.node(run_id, node).state in NODE_TERMINAL
        since = None if last is None else last - window
        for x in client.logs(run_id, node, streams=streams, since=since):
            key = (x.ts, x.stream, x.line)
            if key in seen:
                continue
            out.print_line(x.line)
            seen.add(key)
            last = x.ts if last is None else max(last, x.ts)
        if last is not None:
            seen = {k for k in seen if k[0] > last - window}
        if finished:
            return
        time.sleep(FOLLOW_POLL)
