"""Named servers (``clusters.toml``): ``accio --cluster NAME ...`` talks to NAME's URL.

The file lives next to the user's configuration (``~/.config/accio/clusters.toml``, or
``$ACCIO_CLUSTERS_FILE``) and may hold API tokens, so it is written atomically with mode 0600
in a 0700 folder::

    default = "team"

    [clusters.team]
    url = "http://accio.lab.example:8765"
    token = "..."

Pure: no HTTP, no Settings. Every problem in the file is a UsageError naming the file and the
field, so a typo never becomes a traceback or a silent fall-back to another server.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from accio.client.edit_lock import edit_lock
from accio.errors import UsageError

#: ``--cluster local`` always means the embedded local home, whatever the file says.
LOCAL = "local"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,1024}$")  # printable ASCII, no spaces
_TOP_KEYS = ("default", "clusters")
_CLUSTER_KEYS = ("url", "token")


@dataclass(frozen=True)
class Cluster:
    """A named Accio server: its base URL (no trailing slash) and the token kept for it."""

    name: str
    url: str
    token: str | None = field(default=None, repr=False)


def check_name(name: str, where: str = "cluster name") -> str:
    """``name`` if it can name a cluster (letters, digits, ``_.-``; not ``local``)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UsageError(
            f"{where}: bad cluster name {name!r}: expected letters, digits, '_', '.' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    if name == LOCAL:
        raise UsageError(f"{where}: {LOCAL!r} is reserved for the local home")
    return name


def check_url(url: str, where: str = "url") -> str:
    """``url`` as kept (no trailing slash) if it is ``http(s)://HOST[:PORT][/PATH]``."""
    text = url.strip().rstrip("/") if isinstance(url, str) else ""
    problem = "" if text else "empty"
    if text and any(c.isspace() or not c.isprintable() for c in text):
        problem = "it contains spaces or control characters"
    if not problem:
        parts = urlsplit(text)
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            problem = "bad port"
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "expected http://HOST:PORT"
            elif parts.query or parts.fragment or parts.username or parts.password:
                problem = "no query, fragment or user in a server URL"
    if problem:
        raise UsageError(f"{where}: bad server URL {url!r}: {problem} (e.g. http://host:8765)")
    return text


def check_token(token: str, where: str = "token") -> str:
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise UsageError(f"{where}: expected a token of printable characters without spaces")
    return token


@dataclass(frozen=True)
class ClusterBook:
    """The clusters of one file, in file order, and the default's name."""

    path: Path
    clusters: tuple[Cluster, ...] = ()
    default: str | None = None

    def __iter__(self) -> Iterator[Cluster]:
        return iter(self.clusters)

    def names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def get(self, name: str) -> Cluster:
        """The cluster ``name``; a UsageError listing the known ones otherwise."""
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(self.names()) or "none yet: add one with 'accio cluster add NAME URL'"
        raise UsageError(f"unknown cluster {name!r} (known: {known}; {self.path})")

    def by_url(self, url: str) -> Cluster | None:
        """The first cluster whose URL is ``url`` (to find a token for a bare URL)."""
        key = url.strip().rstrip("/")
        return next((c for c in self.clusters if c.url == key), None)

    def with_cluster(self, cluster: Cluster, *, default: bool = False) -> ClusterBook:
        """A book with ``cluster`` added, or replacing the one of its name in place."""
        names = self.names()
        items = list(self.clusters)
        if cluster.name in names:
            items[names.index(cluster.name)] = cluster
        else:
            items.append(cluster)
        return replace(
            self, clusters=tuple(items), default=cluster.name if default else self.default
        )

    def without(self, name: str) -> ClusterBook:
        """A book without ``name`` (the default too, when it was that one)."""
        self.get(name)
        rest = tuple(c for c in self.clusters if c.name != name)
        return replace(self, clusters=rest, default=None if self.default == name else self.default)

    def with_default(self, name: str | None) -> ClusterBook:
        if name is not None:
            self.get(name)
        return replace(self, default=name)

    def to_toml(self) -> str:
        lines = [
            "# Accio named servers: 'accio cluster add|remove|default', 'accio login'.",
            "# Holds API tokens: keep it readable by you only (mode 0600).",
        ]
        if self.default is not None:
            lines.append(f"default = {_quote(self.default)}")
        for cluster in self.clusters:
            lines += ["", f"[clusters.{_quote(cluster.name)}]", f"url = {_quote(cluster.url)}"]
            if cluster.token is not None:
                lines.append(f"token = {_quote(cluster.token)}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A TOML basic string (escapes quotes, backslashes and every control character)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def parse(text: str, path: Path) -> ClusterBook:
    """The clusters of ``text`` (the content of ``path``, named in every error)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    _only(data, _TOP_KEYS, f"{path}")
    tables = data.get("clusters", {})
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: clusters: expected [clusters.NAME] tables")
    clusters: list[Cluster] = []
    for name, table in tables.items():
        where = f"{path}: clusters.{name}"
        check_name(name, where)
        if not isinstance(table, dict):
            raise UsageError(f"{where}: expected a table with url (and token)")
        _only(table, _CLUSTER_KEYS, where)
        if "url" not in table:
            raise UsageError(f'{where}.url: missing (e.g. url = "http://host:8765")')
        url = check_url(_string(table["url"], f"{where}.url"), f"{where}.url")
        token = table.get("token")
        if token is not None:
            token = check_token(_string(token, f"{where}.token"), f"{where}.token")
        clusters.append(Cluster(name, url, token))
    default = data.get("default")
    if default is not None:
        default = _string(default, f"{path}: default")
        if default not in tables:
            known = ", ".join(tables) or "none"
            raise UsageError(f"{path}: default: no cluster {default!r} (known: {known})")
    return ClusterBook(path, tuple(clusters), default)


def _only(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in keys:
            raise UsageError(f"{where}: {key}: unknown key (expected {', '.join(keys)})")


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where}: expected a string, got {value!r}")
    return value


def load(path: Path) -> ClusterBook:
    """The clusters of ``path``; an empty book when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ClusterBook(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the clusters file: {exc}") from None
    return parse(text, path)


def save(book: ClusterBook) -> None:
    """Write ``book`` to its file atomically, readable by the user only (it holds tokens)."""
    path = book.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(book.to_toml())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the clusters file: {exc}") from None


def update(path: Path, change: Callable[[ClusterBook], ClusterBook]) -> ClusterBook:
    """Apply ``change`` to the file's clusters and write the result, holding the file's edit
    lock throughout: another command's change made meanwhile is read first, never lost.
    Returns the book as it was before."""
    with edit_lock(path):
        before = load(path)
        save(change(before))
    return before


Source = Literal["flag", "env", "server", "default", "local"]


@dataclass(frozen=True)
class Selection:
    """Where a command goes: ``cluster`` (None: ``$ACCIO_SERVER`` or the local home) and why."""

    source: Source
    cluster: Cluster | None = None


def select(
    path: Path | None, flag: str | None, env_name: str | None, server: str | None
) -> Selection:
    """``--cluster``, then ``$ACCIO_CLUSTER``, then ``$ACCIO_SERVER`` (an explicit URL beats
    the file's default), then the file's ``default``, else the local home. ``local`` names the
    local home. The file is read only when a name or its default is needed."""
    name = (flag or "").strip() or (env_name or "").strip() or None
    source: Source = "flag" if (flag or "").strip() else "env"
    if name == LOCAL:
        return Selection("local")
    if name is None and server:
        return Selection("server")
    if path is None:
        if name is not None:
            raise UsageError(f"unknown cluster {name!r}: no clusters file ($HOME is not set)")
        return Selection("local")
    book = load(path)
    if name is not None:
        return Selection(source, book.get(name))
    if book.default is not None:
        return Selection("default", book.get(book.default))
    return Selection("local")
