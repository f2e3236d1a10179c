"""Garbage collection of artifacts that no node and no cache entry refers to any more.

An artifact is written before the node that produced it records its outputs, so an artifact
younger than ``min_age_s`` is spared: collecting while the scheduler runs must not delete the
output of a node that is just finishing. Abandoned ``.tmp-*`` files older than that go too.
"""

from __future__ import annotations

import time

from accio.cache.artifacts import ArtifactStore
from accio.errors import NotFoundError
from accio.storage.base import Storage

#: Default age (seconds) below which artifacts and temporary files are never collected.
DEFAULT_MIN_AGE_S = 3600.0


def gc(
    store: ArtifactStore,
    storage: Storage,
    *,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    dry_run: bool = False,
) -> tuple[int, int]:
    """Delete unreferenced artifacts and their records.

    Parameters
    ----------
    store
        Where the artifact files are.
    storage
        Knows which digests are still referenced (``referenced_digests``).
    min_age_s
        Spare artifacts and temporary files modified less than this many seconds ago;
        pass 0 when nothing is running.
    dry_run
        Only count what would be deleted.

    Returns
    -------
    tuple[int, int]
        Files and bytes deleted (or that would be).
    """
    keep = storage.referenced_digests()
    cutoff = time.time() - min_age_s
    doomed: list[str] = []
    files = size = 0
    for digest in store.iter_digests():
        if digest in keep:
            continue
        try:
            if store.modified(digest) > cutoff:
                continue
            nbytes = store.size(digest)
        except NotFoundError:
            continue  # deleted concurrently
        doomed.append(digest)
        files += 1
        size += nbytes
    if dry_run:
        return files, size
    doomed_set = set(doomed)
    for digest in doomed:
        store.delete(digest)
    # Records of files that are gone (collected now or lost earlier) are dropped as well.
    stale = [d for d in storage.artifact_records() if d not in keep and not store.exists(d)]
    storage.delete_artifact_records(sorted(doomed_set | set(stale)))
    tmp_files, tmp_bytes = store.clean_temporary(min_age_s)
    return files + tmp_files, size + tmp_bytes
