"""What the command modules share: the client they talk to, run id resolution, the state
vocabulary and a few text helpers.

Every command reaches an Accio home only through :class:`~accio.client.contract.AccioClient`
(local, or remote when ``--cluster``, ``$ACCIO_CLUSTER``, ``$ACCIO_SERVER`` or the clusters file's
default names a server), so the CLI behaves the same against both.
"""

from __future__ import annotations

import argparse
import functools
import json
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from accio.errors import EXIT_OK, AccioError, NotFoundError, UsageError
from accio.ops.registry import OperatorRegistry
from accio.states import ALL_RUN_STATES, TERMINAL_NODE_STATES, TERMINAL_RUN_STATES
from accio.storage.records import NodeRecord, RunRecord

if TYPE_CHECKING:
    from accio.client.clusters import Selection
    from accio.client.contract import AccioClient
    from accio.config import Settings

#: Shortest accepted run id prefix; listings show 12 characters.
MIN_PREFIX = 6
#: Length of a full run id (hex).
RUN_ID_LENGTH = 32
#: Children listed by ``describe run`` on a parent, and created runs listed by ``submit``.
SHOWN_CHILDREN = 20

#: The state vocabulary, from the one module that defines it (never a copy here).
RUN_STATES = ALL_RUN_STATES
FINISHED = TERMINAL_RUN_STATES
NODE_TERMINAL = TERMINAL_NODE_STATES

__all__ = [
    "FINISHED",
    "MIN_PREFIX",
    "NODE_TERMINAL",
    "RUN_STATES",
    "SHOWN_CHILDREN",
    "add_json_flag",
    "command",
    "control_client",
    "counts_text",
    "duration",
    "error_line",
    "loads",
    "open_client",
    "percent",
    "resolve_all",
    "resolve_run",
    "split_node_id",
    "split_values",
]


#: Clients opened by the running command; :func:`command` closes them when it returns.
_opened: list[AccioClient] = []


def command(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command handler so that the clients it opened are closed when it ends (database
    connections and HTTP sessions, also when ``main`` runs in-process, as in tests)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        finally:
            while _opened:
                _opened.pop().close()

    return run


#: ``--cluster NAME`` of this invocation (``main`` sets it before the command runs).
_cluster_flag: list[str | None] = [None]


def start_invocation(cluster: str | None = None) -> None:
    """Forget the previous invocation's settings (tests call ``main`` in-process) and keep
    this one's ``--cluster``."""
    _cluster_flag[0] = cluster
    env_settings.cache_clear()
    cli_selection.cache_clear()
    cli_settings.cache_clear()


@functools.cache
def env_settings() -> Settings:
    """The environment's settings, before a cluster is chosen (only Settings reads it)."""
    from accio.config import Settings

    return Settings.from_env()


@functools.cache
def cli_selection() -> Selection:
    """Where this invocation goes (:func:`accio.client.clusters.select`): an unknown cluster
    name is a usage error listing the known ones."""
    from accio.client.clusters import select

    settings = env_settings()
    return select(settings.clusters_file, _cluster_flag[0], settings.cluster, settings.server)


@functools.cache
def cli_settings() -> Settings:
    """This invocation's settings, with ``server`` (and ``token``) of the chosen cluster: every
    command then behaves exactly as with ``ACCIO_SERVER=<its url>``. A token kept with the
    cluster wins over ``$ACCIO_TOKEN``, so one server's token is never sent to another."""
    settings = env_settings()
    selection = cli_selection()
    if selection.cluster is not None:
        cluster = selection.cluster
        return replace(settings, server=cluster.url, token=cluster.token or settings.token)
    if selection.source == "local":
        return replace(settings, server=None)
    return settings


def open_client(*, autostart: bool = True, operators: bool = True) -> AccioClient:
    """The client of this invocation: a remote server when one is chosen (:func:`cli_settings`),
    else the local home (``$ACCIO_HOME``). Imported here so that ``accio help`` stays fast.

    ``operators=False`` is for commands that only read stored records: loading every operator
    plugin (NumPy kernels, SciPy...) would double their start-up time.
    """
    client: AccioClient
    settings = cli_settings()
    if settings.server:  # a remote server: the same methods, over its REST API
        from accio.client.credentials import token_for
        from accio.client.remote import RemoteClient

        client = RemoteClient(settings.server, token=token_for(settings, settings.server))
    else:
        from accio.client.client import Client

        client = Client(
            settings=cli_settings(),
            autostart=autostart,
            registry=None if operators else _NoOperators(),
        )
    _opened.append(client)
    return client


class _NoOperators(OperatorRegistry):
    """An empty registry that is still truthy: the local client uses ``registry or default``."""

    def __bool__(self) -> bool:
        return True


def control_client() -> AccioClient:
    """A client for kill/delete: a running scheduler does the work, so no operators are needed;
    without one, the client replays the runs itself and needs them."""
    client = open_client(autostart=False, operators=False)
    if client.scheduler_running():
        return client
    client.close()
    return open_client(autostart=False)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def resolve_run(client: AccioClient, text: str) -> RunRecord:
    """A run by full id or unique id prefix (>= 6 hex characters, children included).

    NotFoundError when nothing matches; UsageError naming the candidates when several do.
    """
    text = text.strip()
    lowered = text.lower()
    if MIN_PREFIX <= len(lowered) < RUN_ID_LENGTH and all(c in string.hexdigits for c in lowered):
        return client.run(client.resolve_run_id(lowered))
    if not text:
        raise UsageError("empty run id")
    try:
        return client.run(text)
    except NotFoundError:
        raise NotFoundError(f"no such run: {text}") from None


def resolve_all(client: AccioClient, texts: Sequence[str]) -> tuple[list[RunRecord], int]:
    """Known runs, and the exit code of the unknown ones (they are reported, then skipped)."""
    from accio.cli import render as out

    found: list[RunRecord] = []
    code = EXIT_OK
    for text in texts:
        try:
            record = resolve_run(client, text)
        except AccioError as exc:
            out.error(exc.lines())
            code = code or exc.exit_code
            continue
        if record.id not in {r.id for r in found}:
            found.append(record)
    return found, code


def split_node_id(text: str, node: str | None) -> tuple[str, str]:
    """``RUN NODE`` or ``RUN/NODE`` -> (run text, node name)."""
    if node is not None:
        return text, node
    run_text, sep, name = text.partition("/")
    if not sep or not run_text or not name:
        raise UsageError(f"a node is named <run id>/<node name>, got {text!r}")
    return run_text, name


def split_values(values: Sequence[str]) -> tuple[str, ...]:
    """Repeated and comma-separated flag values, stripped and de-duplicated in order."""
    return tuple(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))


def percent(progress: float) -> str:
    return f"{progress * 100:.0f}%"


def counts_text(counts: Mapping[str, int]) -> str:
    """``3 success, 1 failed`` (states with a zero count left out), or ``-``."""
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "-"


def error_line(node: NodeRecord) -> str:
    """A failed node's error as one line: ``Classifier: message``."""
    error: Any = loads(node.error)
    if isinstance(error, dict):
        classifier = error.get("classifier")
        message = error.get("message", "")
        return f"{classifier}: {message}" if classifier else str(message)
    return str(error or node.state)


def loads(text: str | None) -> Any:
    """Stored JSON text, or the text itself when it is not JSON (as the REST models read it)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def duration(started: float | None, completed: float | None) -> float | None:
    if started is None or completed is None:
        return None
    return max(0.0, completed - started)
