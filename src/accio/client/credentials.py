"""The user's API tokens by server URL (``accio login URL``), in a JSON file only they may read.

The file (``~/.config/accio/credentials.json``, mode 0600) maps a server's base URL to the
token :class:`~accio.client.remote.RemoteClient` sends as ``Authorization: Bearer``. Tokens of
named servers live in the clusters file instead (:mod:`accio.client.clusters`); a bare URL finds
either (:func:`token_for`), so both files keep working.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from accio.client.edit_lock import edit_lock
from accio.errors import UsageError

if TYPE_CHECKING:
    from accio.config import Settings


def server_key(url: str) -> str:
    """A server URL as the file keys it (no trailing slash)."""
    return url.strip().rstrip("/")


def load_token(path: Path | None, url: str) -> str | None:
    """The token stored for ``url``, or None."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the credentials file: {exc}") from None
    token = data.get(server_key(url)) if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def save_token(path: Path, url: str, token: str) -> None:
    """Store ``token`` for ``url``; the file (and its folder) are readable by the user only."""
    with edit_lock(path):  # another login's token, saved meanwhile, is read first
        data: dict[str, str] = {}
        if path.exists():
            loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
            data = loaded if isinstance(loaded, dict) else {}
        data[server_key(url)] = token
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def token_for(settings: Settings, url: str) -> str | None:
    """The token to send to ``url``: ``settings.token`` (``$ACCIO_TOKEN``, or the chosen
    cluster's), else the credentials file's for ``url``, else a cluster's of that URL."""
    token = settings.token or load_token(settings.credentials_file, url)
    if token is None and settings.clusters_file is not None:
        from accio.client.clusters import load

        cluster = load(settings.clusters_file).by_url(url)
        token = cluster.token if cluster is not None else None
    return token


def bearer(url: str, token: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header a client of ``url`` sends: ``token``, else ``$ACCIO_TOKEN``,
    else the credentials file's or clusters file's token for ``url``; no header without any."""
    if token is None:
        from accio.config import Settings

        token = token_for(Settings.from_env(), url)
    return {"Authorization": f"Bearer {token}"} if token else {}
