"""``accio ui``: open the web UI of this Accio home (or of ``$ACCIO_SERVER``) in a browser.

The UI is served by the scheduler process; like ``accio submit``, this starts one in the
background when none runs. The URL is always printed: on a machine with no graphical session
(ssh, a container) nothing is opened, since ``webbrowser`` would start a text browser in the
terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import cli_settings, command, open_client
from accio.client.contract import AccioClient
from accio.errors import EXIT_OK, RuntimeFailure, UsageError


def register(subparsers: Any) -> None:
    ui = subparsers.add_parser(
        "ui",
        help="open the web UI in a browser (starting the scheduler if needed)",
        description="Print the URL of the web UI and REST API and open it in a browser; the "
        "scheduler is started in the background if none runs.",
    )
    ui.add_argument("run", nargs="?", default=None, help="a run id: open its page")
    ui.add_argument("--no-browser", action="store_true", help="only print the URL")
    ui.set_defaults(handler=command(cmd_ui))


def cmd_ui(args: argparse.Namespace) -> int:
    settings = cli_settings()  # a named cluster (--cluster) is a server too
    if not settings.server and not settings.serve_http:
        raise UsageError("the web UI is off (ACCIO_HTTP=off): unset it, then run 'accio ui'")
    # A server serves its UI whatever its scheduler does: no need to ask it.
    url = settings.server.rstrip("/") if settings.server else web_url(open_client(operators=False))
    if args.run:
        if "/" in args.run or not args.run.strip():
            raise UsageError(f"bad run id {args.run!r}")
        url = f"{url}/runs/{args.run.strip()}"
    out.print_line(url)
    if not args.no_browser and has_display():
        try:
            webbrowser.open(url)
        except webbrowser.Error as exc:  # printed above: the user can open it by hand
            out.info(f"could not open a browser: {exc}")
    return EXIT_OK


def web_url(client: AccioClient) -> str:
    """Where this home's scheduler serves the UI, starting one (with the UI) if none runs."""
    status = client.scheduler_status()
    if not status.running:
        if not client.start_scheduler():
            raise RuntimeFailure("the scheduler did not start: see 'accio server status'")
        status = client.scheduler_status()
    if status.url is None:
        raise RuntimeFailure(
            "the running scheduler serves no web UI (started with --no-http or ACCIO_HTTP=off): "
            "restart it with 'accio server stop' then 'accio server start'"
        )
    return status.url.rstrip("/")


def has_display() -> bool:
    """Whether a graphical browser can open: macOS, Windows, an X or Wayland session, or a
    browser named by ``$BROWSER``."""
    if sys.platform in ("darwin", "win32") or os.environ.get("BROWSER"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
