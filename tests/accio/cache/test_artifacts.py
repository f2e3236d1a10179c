"""LocalArtifactStore: content addressing, atomic writes, deterministic Parquet; and gc."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accio.cache.artifacts import TMP_PREFIX, LocalArtifactStore
from accio.cache.gc import gc
from accio.errors import NotFoundError
from accio.storage.memory import MemoryStorage
from accio.storage.records import CacheEntry


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def traces(n: int = 1000) -> pa.Table:
    return pa.table(
        {
            "id": [f"user{i % 7}" for i in range(n)],
            "lat": [45.0 + i * 1e-4 for i in range(n)],
            "lng": [4.8 - i * 1e-4 for i in range(n)],
            "time": pa.array(
                [1_462_147_200_000 + i * 1000 for i in range(n)], pa.timestamp("ms", "UTC")
            ),
        }
    )


def files_under(root: Path) -> list[Path]:
    """Artifact and temporary files (not the store's index of verified stats)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".verified"))


class TestContentAddressing:
    def test_bytes_round_trip(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"hello")
        assert digest == hashlib.sha256(b"hello").hexdigest()
        assert store.path(digest) == store.root / digest[:2] / digest[2:]
        assert store.get_bytes(digest) == b"hello"
        assert store.exists(digest)
        assert store.size(digest) == 5
        assert store.verify(digest)
        assert list(store.iter_digests()) == [digest]

    def test_put_file_streams(self, store: LocalArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "big.bin"
        data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
        source.write_bytes(data)
        digest = store.put_file(source)
        assert digest == hashlib.sha256(data).hexdigest()
        assert store.get_bytes(digest) == data
        assert store.put_bytes(data) == digest
        assert len(files_under(store.root)) == 1

    def test_identical_content_is_stored_once(self, store: LocalArtifactStore) -> None:
        first = store.put_table(traces())
        second = store.put_table(traces())
        assert first == second
        assert files_under(store.root) == [store.path(first)]
        assert store.get_table(first).equals(traces())

    def test_missing_and_invalid_digests(self, store: LocalArtifactStore) -> None:
        absent = "0" * 64
        assert not store.exists(absent)
        assert not store.verify(absent)
        assert not store.exists("../../etc/passwd")
        for call in (store.get_bytes, store.get_table, store.size, store.modified):
            with pytest.raises(NotFoundError):
                call(absent)
        with pytest.raises(NotFoundError, match="not an artifact digest"):
            store.path("../../etc/passwd")
        store.delete(absent)  # deleting what is not there is fine
        assert list(store.iter_digests()) == []


class TestAtomicity:
    def test_temporary_files_are_never_listed(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"complete")
        # A writer that crashed mid-write leaves only a temporary file behind.
        crashed = store.root / f"{TMP_PREFIX}12345-deadbeef"
        crashed.write_bytes(b"half a parq")
        (store.root / "zz").mkdir()
        (store.root / "zz" / "not-a-digest").write_bytes(b"x")
        assert list(store.iter_digests()) == [digest]
        # Fresh temporary files may belong to a live writer: kept.
        assert store.clean_temporary(older_than_s=3600) == (0, 0)
        old = time.time() - 7200
        os.utime(crashed, (old, old))
        assert store.clean_temporary(older_than_s=3600) == (1, len(b"half a parq"))
        assert not crashed.exists()
        assert store.exists(digest)

    def test_failed_write_leaves_nothing(
        self, store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> None:
            raise OSError("disk full")

        import pyarrow.parquet as pq

        monkeypatch.setattr(pq, "write_table", broken)
        with pytest.raises(OSError, match="disk full"):
            store.put_table(traces())
        assert files_under(store.root) == []

    def test_artifacts_are_read_only(self, store: LocalArtifactStore) -> None:
        digest = store.put_bytes(b"immutable")
        assert store.path(digest).stat().st_mode & 0o222 == 0


class TestParquet:
    def test_deterministic_bytes(self, store: LocalArtifactStore, tmp_path: Path) -> None:
        table = traces(5000)
        chunked = pa.concat_tables([table.slice(0, 1234), table.slice(1234)])
        assert chunked.column("id").num_chunks == 2
        other = LocalArtifactStore(tmp_path / "other")
        digest = store.put_table(table)
        assert other.put_table(chunked) == digest
        assert other.get_bytes(digest) == store.get_bytes(digest)

    def test_dictionaries_for_strings_only(self, store: LocalArtifactStore) -> None:
        table = traces(5000).append_column(
            "user", pa.array(["ada", "bob"] * 2500).dictionary_encode()
        )
        meta = pq.ParquetFile(store.path(store.put_table(table))).metadata
        encodings = {
            meta.schema.column(i).name: meta.row_group(0).column(i).encodings
            for i in range(meta.num_columns)
        }
        assert "RLE_DICTIONARY" in encodings["id"]
        assert "RLE_DICTIONARY" in encodings["user"]
        for name in ("lat", "lng", "time"):
            assert "RLE_DICTIONARY" not in encodings[name], (name, encodings[name])
        assert store.get_table(store.put_table(table)).equals(table)

    def test_options_are_pinned(self, store: LocalArtifactStore) -> None:
        digest = store.put_table(traces())
        meta = pq.ParquetFile(store.path(digest)).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        assert meta.format_version == "2.6"

    def test_schema_and_metadata_survive(self, store: LocalArtifactStore) -> None:
        table = traces(10).replace_schema_metadata({"source": "geolife"})
        back = store.get_table(store.put_table(table))
        assert back.equals(table)
        assert back.schema.metadata == {b"source": b"geolife"}
        assert back.schema.field("time").type == pa.timestamp("ms", "UTC")

    def test_verify_detects_corruption(self, store: LocalArtifactStore) -> None:
        digest = store.put_table(traces())
        path = store.path(digest)
        assert store.verify(digest)
        os.chmod(path, 0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        assert not store.verify(digest)


class TestGc:
    def test_collects_only_unreferenced(self, store: LocalArtifactStore) -> None:
        storage = MemoryStorage()
        kept, dropped = store.put_bytes(b"kept"), store.put_bytes(b"dropped")
        storage.record_artifacts([(kept, 4), (dropped, 7), ("f" * 64, 1)])
        outputs = json.dumps({"o": {"type": "dataset", "value": kept}})
        storage.record_cache(
            [CacheEntry("k", "Op", "1", "c", "{}", outputs, "r" * 32, "n", 1.0, 1.0)]
        )
        # Young artifacts may belong to a node that is finishing: spared by default.
        assert gc(store, storage) == (0, 0)
        assert gc(store, storage, min_age_s=0, dry_run=True) == (1, 7)
        assert store.exists(dropped)
        assert gc(store, storage, min_age_s=0) == (1, 7)
        assert list(store.iter_digests()) == [kept]
        assert storage.artifact_records() == {kept: 4}  # the lost "f…" record went too
        assert gc(store, storage, min_age_s=0) == (0, 0)
