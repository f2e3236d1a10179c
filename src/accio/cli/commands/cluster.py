"""``accio cluster add|list|remove|default``: the named servers of ``clusters.toml``.

``accio --cluster NAME <command>`` (the original's ``-cluster=NAME``) then talks to NAME's URL,
with the token ``accio --cluster NAME login`` kept in the same file (mode 0600). These commands
read the file itself, never the chosen cluster, so a wrong ``$ACCIO_CLUSTER`` can be repaired.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, env_settings
from accio.client.clusters import (
    LOCAL,
    Cluster,
    ClusterBook,
    check_name,
    check_url,
    load,
    update,
)
from accio.errors import EXIT_OK, UsageError


def register(subparsers: Any) -> None:
    cluster = subparsers.add_parser(
        "cluster",
        help="manage named servers (accio --cluster NAME ...)",
        description="Named Accio servers, kept in the clusters file (~/.config/accio/"
        "clusters.toml or $ACCIO_CLUSTERS_FILE, mode 0600: it holds tokens). 'accio --cluster "
        "NAME COMMAND' talks to NAME; without --cluster, $ACCIO_CLUSTER, then $ACCIO_SERVER, "
        "then the default cluster, else this machine's home. 'local' names this machine's home.",
    )
    verbs = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    add = verbs.add_parser(
        "add",
        help="add (or change the URL of) a named server",
        description="Add the server URL as NAME. Sign in to it with 'accio --cluster NAME login'.",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL", help="http://HOST:PORT of an Accio server")
    add.add_argument("--default", action="store_true", help="make it the default cluster")
    add.set_defaults(handler=cmd_add)
    listing = verbs.add_parser(
        "list", help="list the named servers (* marks the default)", description="List them."
    )
    add_json_flag(listing)
    listing.set_defaults(handler=cmd_list)
    remove = verbs.add_parser(
        "remove", help="forget a named server and its token", description="Forget NAME."
    )
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=cmd_remove)
    default = verbs.add_parser(
        "default",
        help="set the default cluster ('local': none)",
        description="Commands go to NAME when neither --cluster, $ACCIO_CLUSTER nor "
        "$ACCIO_SERVER says otherwise; 'local' makes this machine's home the default again.",
    )
    default.add_argument("name", metavar="NAME")
    default.set_defaults(handler=cmd_default)


def clusters_path() -> Path:
    """The clusters file of this invocation (``$ACCIO_CLUSTERS_FILE`` or the config folder)."""
    path = env_settings().clusters_file
    if path is None:
        raise UsageError("no folder for the clusters file: set $HOME or $ACCIO_CLUSTERS_FILE")
    return path


def cmd_add(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    url = check_url(args.url)
    token: str | None = None

    def add(book: ClusterBook) -> ClusterBook:
        nonlocal token
        if name in book.names():
            old = book.get(name)
            token = old.token if old.url == url else None  # a token never follows a new URL
        return book.with_cluster(Cluster(name, url, token), default=args.default)

    book = update(clusters_path(), add)
    default = " (default)" if args.default or book.default == name else ""
    out.print_line(f"cluster {name} -> {url}{default} in {book.path}")
    if token is None:
        out.info(f"sign in with 'accio --cluster {name} login' if the server requires it")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    book = load(clusters_path())
    if args.json:
        out.print_json(
            [
                {
                    "name": c.name,
                    "url": c.url,
                    "default": c.name == book.default,
                    "token": c.token is not None,
                }
                for c in book
            ]
        )
        return EXIT_OK
    if not book.clusters:
        out.info(f"no clusters in {book.path}: add one with 'accio cluster add NAME URL'")
        return EXIT_OK
    from rich.markup import escape

    rows = [
        (
            "*" if c.name == book.default else "",
            escape(c.name),
            escape(c.url),
            "yes" if c.token else "no",
        )
        for c in book
    ]
    out.print_table(["default", "name", "url", "token"], rows)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    book = update(clusters_path(), lambda book: book.without(args.name))
    was_default = " (it was the default: commands now go to the local home)"
    out.print_line(
        f"cluster {args.name} removed" + (was_default if book.default == args.name else "")
    )
    return EXIT_OK


def cmd_default(args: argparse.Namespace) -> int:
    name = None if args.name == LOCAL else args.name
    update(clusters_path(), lambda book: book.with_default(name))
    out.print_line(f"default cluster: {name or 'none (the local home)'}")
    return EXIT_OK
