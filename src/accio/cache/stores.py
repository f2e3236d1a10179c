"""Choosing an artifact store from a locator: a folder path or an fsspec URL.

A *locator* is the one string that names a store everywhere: the scheduler opens it, and
executors hand it to every worker (``artifacts_root``), which opens it again on its own machine.
So it carries what a worker needs and may show up in logs: the URL and, for S3, the endpoint
(``s3://bucket/prefix?endpoint_url=http%3A%2F%2Fhost%3A8333``) — never credentials. Each process
takes those from its own environment through botocore's usual chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/credentials``, instance roles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from accio.cache.store_base import ArtifactStore
from accio.cache.store_fsspec import FsspecArtifactStore
from accio.cache.store_local import LocalArtifactStore
from accio.config import Settings
from accio.errors import UsageError

#: Fingerprints of the objects of a URL store the scheduler has hashed (under ``home``).
FINGERPRINTS = "artifact-fingerprints.sqlite3"
#: Locator query options understood by :func:`open_store` (the rest is refused).
_OPTIONS = ("endpoint_url",)


def store_locator(settings: Settings) -> str:
    """The locator of the settings' store: ``artifacts_url`` (with the S3 endpoint), else the
    folder ``home/artifacts``."""
    if not settings.artifacts_url:
        return str(settings.artifacts_dir)
    return locator(settings.artifacts_url, endpoint_url=settings.s3_endpoint)


def locator(url: str, *, endpoint_url: str | None = None) -> str:
    """``url`` with the options a worker needs to reach it (a folder path needs none)."""
    if not is_url(url):
        return url
    if "?" in url:
        raise UsageError(f"artifact store URL must not contain '?': {url!r}")
    if not endpoint_url:
        return url
    return f"{url}?{urlencode({'endpoint_url': endpoint_url})}"


def is_url(text: str) -> bool:
    """Whether ``text`` names a store by URL (``scheme://...``) rather than a folder."""
    scheme = urlsplit(text).scheme
    return "://" in text and len(scheme) > 1  # "C:\\..." is a Windows path, not a URL


def open_settings_store(settings: Settings) -> ArtifactStore:
    """The settings' store, as the scheduler opens it (fingerprints kept in ``home``)."""
    return open_store(store_locator(settings), index_path=settings.home / FINGERPRINTS)


def open_store(where: str | Path, *, index_path: Path | None = None) -> ArtifactStore:
    """Open the store a locator names.

    A plain path opens a :class:`LocalArtifactStore` (fsync, rename, stat index: the right
    choice for a local or shared POSIX folder). A URL opens an :class:`FsspecArtifactStore` on
    its filesystem: ``s3://bucket/prefix`` (s3fs), ``memory://name``, ``file:///path``, or any
    protocol fsspec knows. ``index_path`` is where a URL store keeps the fingerprints of the
    objects it has hashed (memory only when None).
    """
    text = str(where)
    if not is_url(text):
        return LocalArtifactStore(Path(text))
    base, _, query = text.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(f"unknown artifact store option(s) {', '.join(unknown)} in {text!r}")
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise UsageError(
            f"artifact store {base!r} needs fsspec: pip install 'accio[s3]'"
        ) from None
    scheme = urlsplit(base).scheme
    kwargs: dict[str, Any] = {}
    if scheme in ("s3", "s3a"):
        # Listings are never cached: another process may add or quarantine objects any time.
        kwargs["use_listings_cache"] = False
        if options.get("endpoint_url"):
            kwargs["client_kwargs"] = {"endpoint_url": options["endpoint_url"]}
    elif options:
        raise UsageError(f"option(s) {', '.join(sorted(options))} apply to s3:// URLs only")
    try:
        fs, root = url_to_fs(base, **kwargs)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"cannot open artifact store {base!r}: {exc}") from None
    if not root.strip("/"):
        raise UsageError(f"artifact store URL needs a bucket or folder: {base!r}")
    return FsspecArtifactStore(fs, root, index_path=index_path)
