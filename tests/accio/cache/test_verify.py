"""Verify on read, quarantine, the cache-hit guard, repair of cache entries, and gc's report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from accio.cache import store_local
from accio.cache.artifacts import CorruptArtifact, LocalArtifactStore
from accio.cache.gc import collect
from accio.cache.verify import guard_cache_hits, invalidate, verify_store
from accio.errors import EXIT_RUNTIME, NotFoundError
from accio.storage.memory import MemoryStorage
from accio.storage.records import CacheEntry


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def table(n: int = 2000) -> pa.Table:
    return pa.table({"id": [f"u{i % 5}" for i in range(n)], "x": [i * 0.5 for i in range(n)]})


def overwrite(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, 0o444)


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    overwrite(path, bytes(data))


def entry(key: str, digest: str, run: str = "r" * 32, node: str = "Src") -> CacheEntry:
    outputs = json.dumps({"data": {"type": "dataset", "value": digest}})
    return CacheEntry(key, "Op", "1", "c", "{}", outputs, run, node, 1.0, 1.0)


class TestVerifyOnRead:
    @pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
    def test_damaged_reads_raise_and_quarantine(
        self, store: LocalArtifactStore, damage: str
    ) -> None:
        digest = store.put_table(table())
        path = store.path(digest)
        data = path.read_bytes()
        if damage == "flip":
            flip(path)
        else:
            overwrite(path, data[: len(data) // 2] if damage == "truncate" else b"")
        with pytest.raises(CorruptArtifact) as caught:
            store.get_table(digest)  # never ArrowInvalid
        assert caught.value.digest == digest
        assert caught.value.exit_code == EXIT_RUNTIME
        assert digest in str(caught.value)
        assert not store.exists(digest)
        [note] = store.quarantined()
        assert note["digest"] == digest
        assert ("empty" in note["reason"]) == (damage == "empty")
        assert Path(note["path"]).exists()  # kept aside for inspection
        assert list(store.iter_digests()) == []
        with pytest.raises(NotFoundError):
            store.get_bytes(digest)

    def test_rewriting_the_content_repairs(self, store: LocalArtifactStore) -> None:
        digest = store.put_table(table())
        good = store.get_bytes(digest)
        flip(store.path(digest))
        # A producer re-executed before anyone read the damage: the bad file is replaced.
        assert store.put_table(table()) == digest
        assert store.get_bytes(digest) == good
        assert len(store.quarantined()) == 1

    def test_quarantine_spares_a_fresh_copy(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"payload")
        stale_inode = store.path(digest).stat().st_ino + 12345
        assert store._quarantine_inode(digest, "test", stale_inode) is None
        assert store.exists(digest)


class TestCheck:
    def test_intact_files_are_not_hashed(
        self, store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        digest = store.put_table(table())

        def no_hash(path: Path) -> str:
            raise AssertionError("check() hashed a file whose stat did not change")

        monkeypatch.setattr(store_local, "_hash_file", no_hash)
        assert store.check(digest)
        assert LocalArtifactStore(store.root).check(digest)  # the index outlives the object

    def test_changed_stat_is_rehashed(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"0123456789")
        path = store.path(digest)
        before = path.stat()
        overwrite(path, b"0123456780")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moved
        assert not store.check(digest)
        assert not store.exists(digest)
        assert store.check("0" * 64) is False

    def test_touched_but_intact_is_fine(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"intact")
        os.utime(store.path(digest), ns=(0, 10**18))
        assert store.check(digest)
        assert store.exists(digest)


class TestRepair:
    def test_guard_turns_hits_on_bad_artifacts_into_misses(
        self, store: LocalArtifactStore
    ) -> None:
        storage = MemoryStorage()
        good, bad = store.put_bytes(b"good"), store.put_bytes(b"bad!")
        storage.record_cache([entry("k1", good, node="A"), entry("k2", bad, node="B")])
        guard_cache_hits(storage, store)
        assert set(storage.lookup_cache(["k1", "k2"])) == {"k1", "k2"}
        overwrite(store.path(bad), b"BAD!")
        assert set(storage.lookup_cache(["k1", "k2"])) == {"k1"}
        storage.artifact_guard = None
        assert set(storage.lookup_cache(["k1", "k2"])) == {"k1"}  # the entry was dropped
        assert bad not in storage.referenced_digests()

    def test_invalidate_names_the_producers(self, store: LocalArtifactStore) -> None:
        storage = MemoryStorage()
        digest = store.put_bytes(b"data")
        storage.record_cache(
            [entry("k1", digest, run="a" * 32, node="Src"), entry("k2", "e" * 64)]
        )
        assert invalidate(storage, [digest]) == [("a" * 32, "Src", "Op")]
        assert set(storage.lookup_cache(["k1", "k2"])) == {"k2"}

    def test_verify_store_reports_then_repairs(self, store: LocalArtifactStore) -> None:
        storage = MemoryStorage()
        fine, damaged = store.put_bytes(b"fine"), store.put_table(table())
        lost = "f" * 64
        storage.record_cache(
            [entry("k1", fine, node="A"), entry("k2", damaged, node="B"), entry("k3", lost)]
        )
        flip(store.path(damaged))
        report = verify_store(store, storage)
        assert report.checked == 2 and not report.ok
        assert list(report.damaged) == [damaged]
        assert report.missing == [lost]
        assert {node for _, node, _ in report.affected} == {"B", "Src"}
        assert store.exists(damaged)  # nothing changed without repair
        assert any("accio verify --repair" in line for line in report.lines())
        repaired = verify_store(store, storage, repair=True)
        assert repaired.quarantined == [damaged]
        assert set(storage.lookup_cache(["k1", "k2", "k3"])) == {"k1"}
        assert verify_store(store, storage, repair=True).ok


class TestGc:
    def test_gc_reports_damaged_kept_files_and_keeps_quarantine(
        self, store: LocalArtifactStore
    ) -> None:
        storage = MemoryStorage()
        kept = store.put_bytes(b"kept data")
        storage.record_cache([entry("k", kept)])
        overwrite(store.path(kept), b"kept dat")
        report = collect(store, storage, min_age_s=0)
        assert report.damaged == [kept]
        assert report.quarantined == 1
        assert (report.files, report.bytes) == (0, 0)
        assert (store.root / "quarantine").is_dir()
        assert len(list((store.root / "quarantine").iterdir())) == 2  # file and its note
