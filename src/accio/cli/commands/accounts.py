"""``accio user add``, ``accio token create|revoke`` (on the server's home) and ``accio login``.

Users and tokens live in the local home's database (the server's, when ``ACCIO_AUTH=on``):
only a SHA-256 hash of a token is stored, so ``token create`` prints it once. ``accio login
URL`` checks a token against a server and keeps it in the user's credentials file (mode 0600)
for the CLI and Python API to send with ``ACCIO_SERVER=URL``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from accio.cli.commands.common import cli_settings, command
from accio.errors import EXIT_OK, UsageError


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
        help="keep a token for a server (ACCIO_SERVER)",
        description="Check a token against SERVER_URL and keep it in the user's credentials "
        "file (~/.config/accio/credentials.json, mode 0600). The token is read from --token or "
        "standard input.",
    )
    login.add_argument("server", metavar="SERVER_URL")
    login.add_argument("--token", help="the token (default: read from standard input)")
    login.set_defaults(handler=command(cmd_login))


def _local_storage() -> Any:
    settings = cli_settings()
    if settings.server:
        raise UsageError("users and tokens are managed on the server's home: unset ACCIO_SERVER")
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

    from accio.client.credentials import save_token, server_key

    token = (args.token if args.token is not None else sys.stdin.readline()).strip()
    if not token:
        raise UsageError("no token: pass --token or write it to standard input")
    url = server_key(args.server)
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"bad server URL {args.server!r}: expected http://HOST:PORT")
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
    path = cli_settings().credentials_file
    if path is None:
        raise UsageError("no home folder to keep the credentials in ($HOME is not set)")
    save_token(path, url, token)
    print(f"signed in to {url}; token kept in {path}")
    return EXIT_OK
