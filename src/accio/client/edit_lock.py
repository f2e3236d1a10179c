"""One writer at a time for the user's small config files (clusters, credentials).

They are read, changed and written back whole (write to a temporary file, then rename). Two
commands at once (two ``accio login`` in two terminals) would each write their own change over
the same old content, and one would be lost; an exclusive ``flock`` on a sibling lock file,
held across read-change-write, serialises them. The rename keeps readers lock-free: they see the
old file or the new one. Where ``fcntl`` does not exist (Windows) edits are not serialised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from accio.errors import UsageError


@contextlib.contextmanager
def edit_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive edit lock of ``path`` (its folder is created, readable by the user
    only, like the files it holds)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = path.parent / f".{path.name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(lock, "a")  # noqa: SIM115 (closed below, after the unlock)
    except OSError as exc:  # a read-only folder
        raise UsageError(f"{path}: cannot lock the file to change it ({lock}): {exc}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as exc:  # NFS mounted without locks
            raise UsageError(f"{path}: cannot lock the file to change it: {exc}") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
