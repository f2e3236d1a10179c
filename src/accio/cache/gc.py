"""Garbage collection of artifacts that no node and no cache entry refers to any more.

An artifact is written before the node that produced it records its outputs, so an artifact
younger than ``min_age_s`` is spared: collecting while the scheduler runs must not delete the
output of a node that is just finishing. Abandoned ``.tmp-*`` files older than that go too.

Kept artifacts get the store's cheap check (a ``stat`` against the one recorded when the bytes
were last hashed): gc walks the whole store anyway, so it reports, and quarantines, damaged files
it meets instead of keeping them silently. Quarantined files are never collected.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from accio.cache.artifacts import ArtifactStore
from accio.errors import NotFoundError

#: Default age (seconds) below which artifacts and temporary files are never collected.
DEFAULT_MIN_AGE_S = 3600.0


class ArtifactIndex(Protocol):
    """What gc needs of storage (every ``Storage`` backend fits)."""

    def referenced_digests(self) -> set[str]: ...
    def artifact_records(self) -> dict[str, int]: ...
    def delete_artifact_records(self, digests: Sequence[str]) -> None: ...


@dataclass
class GcReport:
    """Files and bytes deleted (or that would be), and kept artifacts found damaged."""

    files: int = 0
    bytes: int = 0
    damaged: list[str] = field(default_factory=list)
    quarantined: int = 0  # files in the store's quarantine (damaged ones included)


def collect(
    store: ArtifactStore,
    storage: ArtifactIndex,
    *,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    dry_run: bool = False,
    check: bool = True,
) -> GcReport:
    """Delete unreferenced artifacts and their records; check the kept ones.

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
        Only count what would be deleted (damaged files are still quarantined: serving them
        is never right).
    check
        Check kept artifacts with ``store.check`` (a stat each, a hash if the stat changed).
    """
    keep = storage.referenced_digests()
    cutoff = time.time() - min_age_s
    report = GcReport()
    doomed: list[str] = []
    for digest in store.iter_digests():
        if digest in keep:
            if check and not store.check(digest) and not store.exists(digest):
                report.damaged.append(digest)  # quarantined by check()
            continue
        try:
            if store.modified(digest) > cutoff:
                continue
            nbytes = store.size(digest)
        except NotFoundError:
            continue  # deleted concurrently
        doomed.append(digest)
        report.files += 1
        report.bytes += nbytes
    report.quarantined = len(store.quarantined())
    if dry_run:
        return report
    doomed_set = set(doomed)
    for digest in doomed:
        store.delete(digest)
    # Records of files that are gone (collected now or lost earlier) are dropped as well.
    stale = [d for d in storage.artifact_records() if d not in keep and not store.exists(d)]
    storage.delete_artifact_records(sorted(doomed_set | set(stale)))
    tmp_files, tmp_bytes = store.clean_temporary(min_age_s)
    report.files += tmp_files
    report.bytes += tmp_bytes
    return report


def gc(
    store: ArtifactStore,
    storage: ArtifactIndex,
    *,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    dry_run: bool = False,
) -> tuple[int, int]:
    """Files and bytes deleted (or that would be): :func:`collect` without the report."""
    report = collect(store, storage, min_age_s=min_age_s, dry_run=dry_run)
    return report.files, report.bytes


class RetentionIndex(ArtifactIndex, Protocol):
    """What retention needs of storage besides gc's (every ``Storage`` backend fits)."""

    def cache_index(self) -> list[tuple[str, str, str]]: ...
    def node_cache_keys(self) -> list[tuple[str, str]]: ...
    def artifact_references(self) -> list[tuple[str, str, str, str]]: ...


@dataclass
class RetentionPlan:
    """What deleting ``runs`` frees: cache entries no remaining run needs, and the artifacts
    (digest -> bytes) that no remaining run or entry references."""

    cache_keys: list[str]
    artifacts: dict[str, int]

    @property
    def bytes(self) -> int:
        return sum(self.artifacts.values())


def plan_retention(storage: RetentionIndex, runs: Sequence[str]) -> RetentionPlan:
    """The cache entries and artifacts that go once ``runs`` (children included) are deleted.

    An entry is kept while a remaining node has its key (its run may be re-run or explained);
    an artifact while a remaining node's or entry's outputs refer to it.
    """
    gone = set(runs)
    needed = {key for run_id, key in storage.node_cache_keys() if run_id not in gone}
    entries = storage.cache_index()
    doomed = {key: (run_id, node) for key, run_id, node in entries if key not in needed}
    producers = set(doomed.values())
    kept: set[str] = set()
    for kind, run_id, node, digest in storage.artifact_references():
        if kind == "node" and run_id in gone:
            continue
        if kind == "cache" and (run_id, node) in producers:
            continue
        kept.add(digest)
    sizes = storage.artifact_records()
    freed = {d: n for d, n in sizes.items() if d not in kept}
    return RetentionPlan(sorted(doomed), freed)
