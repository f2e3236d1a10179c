"""Integrity of the artifact store, and repair of the cache entries that point at bad files.

A cache entry is only as good as the artifacts its outputs name. When an artifact is damaged
(moved to quarantine by the store) or missing, every entry whose outputs refer to it must be
forgotten: the next submission then misses on the producing node, re-executes it, and, Parquet
output being deterministic, writes the very same digest back, so everything downstream keeps its
keys. Three ways in:

* :func:`guard_cache_hits` makes ``Storage.lookup_cache`` check (by stat, re-hashing only a
  changed file) the artifacts of every hit, turning a hit on a bad artifact into a miss;
* :func:`invalidate` drops the entries of given digests at once (after a read failed);
* :func:`verify_store` re-hashes the whole store (``accio verify [--repair]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from accio.cache.artifacts import ArtifactStore
from accio.errors import NotFoundError


class ProducedEntry(Protocol):
    """What repair reads of a cache entry (storage's ``CacheEntry`` fits)."""

    @property
    def key(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def node(self) -> str: ...


class RepairableIndex(Protocol):
    """What repair needs of the cache index; every ``Storage`` backend fits (the cache layer
    sits beside storage, not above it)."""

    artifact_guard: Callable[[set[str]], set[str]] | None

    def cache_entries_with_digests(self, digests: Sequence[str]) -> Sequence[ProducedEntry]: ...
    def delete_cache_entries(self, keys: Sequence[str]) -> int: ...
    def referenced_digests(self) -> set[str]: ...


@dataclass
class VerifyReport:
    """What :func:`verify_store` found; ``repaired`` says whether anything was changed."""

    checked: int = 0
    bytes_checked: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # digest -> reason
    missing: list[str] = field(default_factory=list)  # referenced, not in the store
    quarantined: list[str] = field(default_factory=list)  # moved aside by this call
    #: Producers ``(run, node, op)`` of the cache entries referring to a bad digest: dropped
    #: with ``repaired``, else those that would be.
    affected: list[tuple[str, str, str]] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.missing

    @property
    def runs(self) -> list[str]:
        """Runs whose node produced an invalidated entry: re-submit them to repair."""
        return sorted({run for run, _, _ in self.affected})

    def lines(self) -> list[str]:
        """A human summary, one finding per line."""
        out = [
            f"checked {self.checked} artifact(s), {self.bytes_checked / 2**20:.1f} MiB: "
            f"{len(self.damaged)} damaged, {len(self.missing)} missing"
        ]
        for digest, reason in sorted(self.damaged.items()):
            moved = " (quarantined)" if digest in self.quarantined else ""
            out.append(f"damaged {digest}: {reason}{moved}")
        out.extend(f"missing {digest}: referenced but not stored" for digest in self.missing)
        done = "invalidated" if self.repaired else "would invalidate"
        for run, node, op in self.affected:
            out.append(f"{done} the cache entry of {run}/{node} ({op})")
        if self.repaired and self.affected:
            out.append("re-submit the affected runs: their producers re-execute")
        if not self.ok and not self.repaired:
            out.append("run `accio verify --repair` to quarantine and invalidate them")
        return out


def guard_cache_hits(storage: RepairableIndex, store: ArtifactStore) -> None:
    """Make cache lookups of ``storage`` reuse only artifacts that pass ``store.check``."""

    def usable(digests: set[str]) -> set[str]:
        return {d for d in digests if store.check(d)}

    storage.artifact_guard = usable


def invalidate(
    storage: RepairableIndex, digests: list[str] | set[str]
) -> list[tuple[str, str, str]]:
    """Forget every cache entry whose outputs refer to ``digests``; returns their producers."""
    entries = storage.cache_entries_with_digests(sorted(set(digests)))
    storage.delete_cache_entries([e.key for e in entries])
    return [(e.run_id, e.node, e.op) for e in entries]


def verify_store(
    store: ArtifactStore, storage: RepairableIndex, repair: bool = False
) -> VerifyReport:
    """Re-hash every artifact; list damaged and missing ones and the entries they affect.

    With ``repair``, damaged files are quarantined (never deleted) and the cache entries that
    refer to a damaged, missing or already quarantined digest are dropped, so re-submitting the
    affected runs re-executes their producers. Without it nothing is changed.
    """
    report = VerifyReport(repaired=repair)
    for digest in store.iter_digests():
        try:
            size = store.size(digest)
        except NotFoundError:  # deleted concurrently (gc): nothing to check
            continue
        report.checked += 1
        report.bytes_checked += size
        if store.verify(digest):
            continue
        if not store.exists(digest):
            continue  # deleted while being hashed
        report.damaged[digest] = "empty file" if size == 0 else "content does not match digest"
        if repair and store.quarantine(digest, report.damaged[digest]) is not None:
            report.quarantined.append(digest)
    referenced = storage.referenced_digests()
    report.missing = sorted(
        d for d in referenced if d not in report.damaged and not store.exists(d)
    )
    bad = set(report.damaged) | set(report.missing)
    bad |= {str(n["digest"]) for n in store.quarantined() if not store.exists(str(n["digest"]))}
    if not bad:
        return report
    if repair:
        report.affected = invalidate(storage, bad)
    else:  # dry run: what would be invalidated
        entries = storage.cache_entries_with_digests(sorted(bad))
        report.affected = [(e.run_id, e.node, e.op) for e in entries]
    return report
