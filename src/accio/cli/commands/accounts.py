"""``accio user add|list``, ``accio token create|list|revoke`` (on the server's home) and
``accio login``.

Users and tokens live in the local home's database (the server's, when ``ACCIO_AUTH=on``):
only a SHA-256 hash of a token is stored, so ``token create`` prints it once. ``accio login``
checks a token against a server and keeps it, mode 0600: a named server's (``accio --cluster
NAME login``, or a URL that a cluster has) in its entry of the clusters file, any other URL's in
the credentials file, as before clusters existed (the CLI and Python API send it to that URL).
``token list`` shows ids, owners and dates, never a token or its hash: the acting user's own
tokens, anyone's for an admin (the acting user is ``$ACCIO_USER``, default the OS login).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cli import render as out
from accio.cli.commands.common import add_json_flag, cli_settings, command
from accio.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from accio.client.clusters import Cluster
    from accio.storage.accounts import TokenRecord


def register(subparsers: Any) -> None:
    user = subparsers.add_parser(
        "user", help="manage the server's users", description="Users of this home's server."
    )
    user_verbs = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_verbs.add_parser("add", help="add a user", description="Add a user to this home.")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may act on every run, and run gc")
    add.set_defaults(handler=command(cmd_user_add))
    users = user_verbs.add_parser(
        "list", help="list the users", description="The users of this home: names and roles."
    )
    add_json_flag(users)
    users.set_defaults(handler=command(cmd_user_list))

    token = subparsers.add_parser(
        "token", help="create or revoke API tokens", description="API tokens of this home."
    )
    token_verbs = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = token_verbs.add_parser(
        "create", help="create a token for a user (printed once)", description="Create a token."
    )
    create.add_argument("user", metavar="USER")
    create.set_defaults(handler=command(cmd_token_create))
    listing = token_verbs.add_parser(
        "list",
        help="list tokens: ids, users, dates (never a token)",
        description="Tokens of USER (default: you, $ACCIO_USER or the OS login): id, user, "
        "created, revoked. Only an admin may list another user's tokens, or --all. Neither a "
        "token nor its hash is shown.",
    )
    listing.add_argument("user", metavar="USER", nargs="?", help="default: you")
    listing.add_argument("--all", action="store_true", help="every user's tokens (admins)")
    add_json_flag(listing)
    listing.set_defaults(handler=command(cmd_token_list))
    revoke = token_verbs.add_parser(
        "revoke", help="revoke a token by id", description="Revoke a token: it signs in no more."
    )
    revoke.add_argument("id", metavar="ID")
    revoke.set_defaults(handler=command(cmd_token_revoke))

    login = subparsers.add_parser(
        "login",
        help="keep a token for a server (accio --cluster NAME login, or a URL)",
        description="Check a token against a server and keep it (mode 0600): a named "
        "server's ('accio --cluster NAME login'; without a URL, the chosen or default cluster) "
        "in the clusters file, another SERVER_URL's in ~/.config/accio/credentials.json. The "
        "token is read from --token or standard input.",
    )
    login.add_argument("server", metavar="SERVER_URL", nargs="?", help="default: the cluster's")
    login.add_argument("--token", help="the token (default: read from standard input)")
    login.set_defaults(handler=command(cmd_login))


def _local_storage() -> Any:
    settings = cli_settings()
    if settings.server:
        raise UsageError(
            "users and tokens are managed on the server's home: unset ACCIO_SERVER, or pass "
            "--cluster local"
        )
    from accio.storage.sqlite import open_storage

    return open_storage(settings)


def cmd_user_add(args: argparse.Namespace) -> int:
    from accio.storage.accounts import UserRecord

    name = args.name.strip()
    if not name or any(c.isspace() for c in name):
        raise UsageError(f"bad user name {args.name!r}")
    with _local_storage() as storage:
        storage.add_user(UserRecord(name, bool(args.admin), time.time()))
    print(f"user {name} added" + (" (admin)" if args.admin else ""))
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace) -> int:
    from accio.errors import NotFoundError
    from accio.storage.accounts import new_token

    token, rec = new_token(args.user)
    with _local_storage() as storage:
        try:
            storage.add_token(rec)
        except NotFoundError:
            raise UsageError(f"no user {args.user!r}: add it with 'accio user add'") from None
    print(token)
    print(f"token {rec.id} for {rec.user}: shown once, only its hash is stored", file=sys.stderr)
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    with _local_storage() as storage:
        users = storage.users()
    if args.json:
        out.print_json([{"name": u.name, "admin": u.admin, "created": u.created} for u in users])
        return EXIT_OK
    if not users:
        out.info("no users: add one with 'accio user add NAME'")
        return EXIT_OK
    rows = [(u.name, "admin" if u.admin else "user", out.format_time(u.created)) for u in users]
    out.print_table(["name", "role", "created"], rows)
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace) -> int:
    me = cli_settings().user
    wanted = None if args.all else (args.user or me)
    if args.all and args.user:
        raise UsageError("give USER or --all, not both")
    with _local_storage() as storage:
        if wanted != me:
            acting = storage.get_user(me)
            if acting is None or not acting.admin:
                whose = "every user's" if wanted is None else f"{wanted}'s"
                raise UsageError(
                    f"only an admin may list {whose} tokens; you are {me!r} (ACCIO_USER)"
                    + ("" if acting is not None else ", not a user of this home")
                )
        if wanted is not None and storage.get_user(wanted) is None:
            raise UsageError(f"no user {wanted!r}: see 'accio user list'")
        tokens = storage.tokens(wanted)
    if args.json:
        out.print_json([_token_json(t) for t in tokens])
        return EXIT_OK
    if not tokens:
        out.info(f"no tokens for {wanted}" if wanted else "no tokens")
        return EXIT_OK
    rows = [
        (
            t.id,
            t.user,
            out.format_time(t.created),
            f"yes, {out.relative_time(t.revoked)}" if t.revoked else "no",
        )
        for t in tokens
    ]
    out.print_table(["id", "user", "created", "revoked"], rows)
    return EXIT_OK


def _token_json(rec: TokenRecord) -> dict[str, Any]:
    """A token's listing, times in seconds since the epoch as in the REST API: everything but
    its hash (a stored hash is what an offline guess would be checked against)."""
    return {"id": rec.id, "user": rec.user, "created": rec.created, "revoked": rec.revoked}


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _local_storage() as storage:
        rec = storage.revoke_token(args.id)
    print(f"token {rec.id} of {rec.user} revoked")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    import httpx

    from accio.client.clusters import Cluster, check_token, update
    from accio.client.credentials import save_token

    url, cluster = _login_target(args.server)
    token = (args.token if args.token is not None else sys.stdin.readline()).strip()
    if not token:
        raise UsageError("no token: pass --token or write it to standard input")
    check_token(token, "the token")
    try:
        response = httpx.get(
            f"{url}/api/v1/runs",
            params={"per_page": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach the Accio server at {url}: {exc}") from None
    if response.status_code == 401:
        raise UsageError(f"{url} refused the token (unknown or revoked)")
    if response.status_code != 200:
        raise UsageError(f"{url} answered {response.status_code}: is it an Accio server?")
    if cluster is not None:
        kept = Cluster(cluster.name, cluster.url, token)
        book_path = _clusters_file()
        update(book_path, lambda b: b.with_cluster(kept, default=b.default == cluster.name))
        print(f"signed in to {cluster.name} ({url}); token kept in {book_path}")
        return EXIT_OK
    path = cli_settings().credentials_file
    if path is None:
        raise UsageError("no home folder to keep the credentials in ($HOME is not set)")
    save_token(path, url, token)
    print(f"signed in to {url}; token kept in {path}")
    return EXIT_OK


def _login_target(text: str | None) -> tuple[str, Cluster | None]:
    """The URL to sign in to and the cluster that keeps its token (None: credentials file).

    A cluster named by ``--cluster``/``$ACCIO_CLUSTER`` must agree with a URL given; a URL given
    otherwise wins over ``$ACCIO_SERVER`` and the default cluster, and is kept in the entry of
    the cluster of that URL if there is one."""
    from accio.cli.commands.common import cli_selection
    from accio.client.clusters import check_url, load

    selection = cli_selection()
    named = selection.source in ("flag", "env")
    if text is None:
        if selection.cluster is not None:
            return selection.cluster.url, selection.cluster
        server = cli_settings().server
        if server is None:
            raise UsageError(
                "sign in to which server? 'accio --cluster NAME login', or 'accio login URL'"
            )
        text = server
    url = check_url(text, "SERVER_URL")
    if named and selection.cluster is not None:
        if selection.cluster.url != url:
            raise UsageError(
                f"{url} is not cluster {selection.cluster.name}'s URL ({selection.cluster.url})"
            )
        return url, selection.cluster
    path = cli_settings().clusters_file
    return url, load(path).by_url(url) if path is not None else None


def _clusters_file() -> Path:
    path = cli_settings().clusters_file
    if path is None:
        raise UsageError("no folder for the clusters file: set $HOME or $ACCIO_CLUSTERS_FILE")
    return path
