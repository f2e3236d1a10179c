"""``accio user add``, ``accio token create|revoke`` (on the server's home) and ``accio login``.

Users and tokens live in the local home's database (the server's, when ``ACCIO_AUTH=on``):
only a SHA-256 hash of a token is stored, so ``token create`` prints it once. ``accio login``
checks a token against a server and keeps it, mode 0600: a named server's (``accio --cluster
NAME login``, or a URL that a cluster has) in its entry of the clusters file, any other URL's in
the credentials file, as before clusters existed (the CLI and Python API send it to that URL).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.cli.commands.common import cli_settings, command
from accio.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from accio.client.clusters import Cluster


def register(subparsers: Any) -> None:
    user = subparsers.add_parser(
        "user", help="manage the server's users", description="Users of this home's server."
    )
    user_verbs = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_verbs.add_parser("add", help="add a user", description="Add a user to this home.")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may act on every run, and run gc")
    add.set_defaults(handler=command(cmd_user_add))

    token = subparsers.add_parser(
        "token", help="create or revoke API tokens", description="API tokens of this home."
    )
    token_verbs = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = token_verbs.add_parser(
        "create", help="create a token for a user (printed once)", description="Create a token."
    )
    create.add_argument("user", metavar="USER")
    create.set_defaults(handler=command(cmd_token_create))
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


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _local_storage() as storage:
        rec = storage.revoke_token(args.id)
    print(f"token {rec.id} of {rec.user} revoked")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    import httpx

    from accio.client.clusters import Cluster, check_token, load, save
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
        book = load(_clusters_file())
        kept = Cluster(cluster.name, cluster.url, token)
        save(book.with_cluster(kept, default=book.default == cluster.name))
        print(f"signed in to {cluster.name} ({url}); token kept in {book.path}")
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
