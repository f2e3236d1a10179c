"""The artifact store contract, on every implementation: a folder, fsspec ``file://`` and
``memory://``, and S3 on a real SeaweedFS (the ``s3_server`` fixture of ``tests/conftest.py``).

Damage is done behind the store's back, through the raw filesystem (s3fs for S3), as a disk, a
buggy tool or another writer would: the store must notice on read, on check and on verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from accio.cache.artifacts import (
    TMP_PREFIX,
    ArtifactStore,
    CorruptArtifact,
    FsspecArtifactStore,
    LocalArtifactStore,
)
from accio.cache.gc import collect
from accio.cache.stores import locator, open_store
from accio.cache.verify import guard_cache_hits, verify_store
from accio.errors import NotFoundError
from accio.storage.memory import MemoryStorage
from accio.storage.records import CacheEntry

KINDS = ["local", "file", "memory", "s3"]
URL_KINDS = KINDS[1:]  # the fsspec store


@dataclass
class Case:
    """A store plus raw access to the bytes behind it."""

    kind: str
    store: ArtifactStore
    read: Callable[[str], bytes]  # raw bytes of a path relative to the store root
    write: Callable[[str, bytes], None]  # overwrite behind the store's back
    listing: Callable[[], list[str]]  # every raw path under the root, relative

    def flip(self, digest: str) -> None:
        relative = f"{digest[:2]}/{digest[2:]}"
        data = bytearray(self.read(relative))
        data[len(data) // 2] ^= 0x01
        self.write(relative, bytes(data))


def _fsspec_case(kind: str, store: ArtifactStore) -> Case:
    assert isinstance(store, FsspecArtifactStore)
    fs, root = store.fs, store.root

    def listing() -> list[str]:
        try:
            return _relative(root, fs.find(root))
        except FileNotFoundError:
            return []

    def write(rel: str, data: bytes) -> None:
        fs.makedirs(f"{root}/{rel}".rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(f"{root}/{rel}", data)

    return Case(kind, store, lambda rel: bytes(fs.cat_file(f"{root}/{rel}")), write, listing)


def _relative(root: str, paths: list[str]) -> list[str]:
    """Paths under ``root``, relative (a folder marker for the root itself is not a file)."""
    return sorted(p[len(root) + 1 :] for p in paths if len(p) > len(root) + 1)


@pytest.fixture(params=KINDS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    kind = request.param
    if kind == "local":
        root = tmp_path / "artifacts"

        def write(rel: str, data: bytes) -> None:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o644)  # artifacts are read-only
            path.write_bytes(data)

        def listing() -> list[str]:
            return sorted(
                str(p.relative_to(root))
                for p in root.rglob("*")
                if p.is_file() and not p.name.startswith(".verified")
            )

        yield Case(kind, open_store(root), lambda r: (root / r).read_bytes(), write, listing)
    elif kind == "file":
        yield _fsspec_case(kind, open_store(f"file://{tmp_path / 'artifacts'}"))
    elif kind == "memory":
        url = f"memory://accio-{uuid.uuid4().hex}"
        yield _fsspec_case(kind, open_store(url))
        import fsspec

        with suppress(FileNotFoundError):  # nothing written
            fsspec.filesystem("memory").rm(url[len("memory://") :], recursive=True)
    else:
        server = request.getfixturevalue("s3_server")
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        url = f"s3://{server.bucket}/contract-{uuid.uuid4().hex}"
        store = open_store(locator(url, endpoint_url=server.endpoint))
        assert isinstance(store, FsspecArtifactStore) and store.atomic_put
        # Damage goes through a separate s3fs client, as another tool would do it.
        raw, root = server.filesystem(), store.root
        yield Case(
            kind,
            store,
            read=lambda rel: bytes(raw.cat_file(f"{root}/{rel}")),
            write=lambda rel, data: raw.pipe_file(f"{root}/{rel}", data),
            listing=lambda: _relative(root, raw.find(root)),
        )
        with suppress(FileNotFoundError):
            raw.rm(root, recursive=True)


def table(n: int = 3000, seed: float = 0.5) -> pa.Table:
    return pa.table({"id": [f"u{i % 7}" for i in range(n)], "x": [i * seed for i in range(n)]})


def entry(key: str, digest: str, node: str = "Src") -> CacheEntry:
    outputs = json.dumps({"data": {"type": "dataset", "value": digest}})
    return CacheEntry(key, "Op", "1", "c", "{}", outputs, "r" * 32, node, 1.0, 1.0)


def test_bytes_round_trip_once(case: Case) -> None:
    store = case.store
    digest = store.put_bytes(b"hello artifacts")
    assert store.put_bytes(b"hello artifacts") == digest  # known content: a no-op
    assert store.get_bytes(digest) == b"hello artifacts"
    assert store.exists(digest) and store.size(digest) == len(b"hello artifacts")
    assert abs(store.modified(digest) - time.time()) < 120
    assert case.listing() == [f"{digest[:2]}/{digest[2:]}"]  # one object, no temporary left
    assert list(store.iter_digests()) == [digest]


def test_tables_are_deterministic_across_stores(case: Case, tmp_path: Path) -> None:
    reference = LocalArtifactStore(tmp_path / "reference").put_table(table())
    chunked = pa.concat_tables([table().slice(0, 1000), table().slice(1000)])
    assert case.store.put_table(chunked) == reference  # same bytes in every store
    assert case.store.get_table(reference).equals(table())


def test_put_file_streams_and_hashes(case: Case, tmp_path: Path) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(bytes(range(256)) * 5000)
    digest = case.store.put_file(source)
    assert case.store.get_bytes(digest) == source.read_bytes()
    assert case.store.put_file(source) == digest
    assert list(case.store.iter_digests()) == [digest]
    assert not [p for p in case.listing() if TMP_PREFIX in p]


def test_missing_and_malformed_digests(case: Case) -> None:
    store, missing = case.store, "ab" * 32
    assert not store.exists(missing) and not store.check(missing)
    assert not store.verify(missing) and not store.exists("../../etc/passwd")
    with pytest.raises(NotFoundError):
        store.get_bytes(missing)
    with pytest.raises(NotFoundError):
        store.size(missing)
    with pytest.raises(NotFoundError):
        store.get_table("not-a-digest")
    assert store.quarantine(missing, "gone") is None
    store.delete(missing)  # absent: no error


def test_flipped_bytes_are_caught_on_read_and_quarantined(case: Case) -> None:
    store = case.store
    digest = store.put_table(table())
    assert store.verify(digest)
    case.flip(digest)
    assert not store.verify(digest) and store.exists(digest)  # verify moves nothing
    with pytest.raises(CorruptArtifact) as caught:
        store.get_table(digest)
    assert caught.value.digest == digest and caught.value.quarantined is not None
    assert not store.exists(digest) and list(store.iter_digests()) == []
    [note] = store.quarantined()
    assert note["digest"] == digest and "hash to" in note["reason"]
    assert str(caught.value.quarantined) == note["path"]
    kept = [p for p in case.listing() if p.startswith("quarantine/")]
    assert len(kept) == 2  # the damaged bytes (never deleted) and the note
    # Writing the same table again (re-executing its producer) repairs the store.
    assert store.put_table(table()) == digest
    assert store.get_table(digest).equals(table())


def test_check_catches_rewrites_and_truncation(case: Case) -> None:
    store = case.store
    flipped, truncated, fine = store.put_table(table()), store.put_bytes(b"x" * 4096), None
    fine = store.put_bytes(b"fine")
    assert all(store.check(d) for d in (flipped, truncated, fine))
    case.flip(flipped)
    case.write(f"{truncated[:2]}/{truncated[2:]}", b"x" * 100)
    assert not store.check(flipped) and not store.check(truncated)
    assert store.check(fine)
    assert sorted(n["digest"] for n in store.quarantined()) == sorted([flipped, truncated])
    assert list(store.iter_digests()) == [fine]


@pytest.mark.parametrize("case", URL_KINDS, indirect=True)
def test_check_trusts_an_unchanged_object_without_reading_it(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The folder store's stat index is tested in test_verify.py.)"""
    store = case.store
    digest = store.put_table(table())
    reopened = FsspecArtifactStore(store.fs, store.root)  # fresh index: must hash once
    assert reopened.check(digest)

    def no_download(digest: str) -> tuple[str, int]:
        raise AssertionError("an unchanged object was downloaded again")

    monkeypatch.setattr(reopened, "_hash", no_download)
    monkeypatch.setattr(store, "_hash", no_download)
    assert reopened.check(digest) and store.check(digest)  # one info() each


@pytest.mark.parametrize("case", URL_KINDS, indirect=True)
def test_fingerprints_survive_in_the_index_file(case: Case, tmp_path: Path) -> None:
    index = tmp_path / "prints.sqlite3"
    first = FsspecArtifactStore(case.store.fs, case.store.root, index_path=index)
    digest = first.put_bytes(b"remembered")
    second = FsspecArtifactStore(case.store.fs, case.store.root, index_path=index)
    second._hash = None  # type: ignore[method-assign,assignment]  # would fail if called
    assert second.check(digest)
    case.write(f"{digest[:2]}/{digest[2:]}", b"rewritten!")  # new ETag / mtime
    third = FsspecArtifactStore(case.store.fs, case.store.root, index_path=index)
    assert not third.check(digest)


def test_delete_and_listing_ignore_everything_but_digests(case: Case) -> None:
    store = case.store
    a, b = store.put_bytes(b"a"), store.put_bytes(b"b")
    case.write(f"{TMP_PREFIX}123-abc", b"half-written")
    case.write("zz/not-a-digest", b"junk")
    case.write(f"quarantine/{'c' * 64}.x", b"old damage")
    assert sorted(store.iter_digests()) == sorted([a, b])
    store.delete(a)
    store.delete(a)
    assert list(store.iter_digests()) == [b] and not store.exists(a)
    time.sleep(0.05)
    assert store.clean_temporary(3600) == (0, 0)  # too young
    assert store.clean_temporary(0) == (1, len(b"half-written"))
    assert not [p for p in case.listing() if TMP_PREFIX in p]


def test_gc_verify_and_guard_run_on_the_store(case: Case) -> None:
    store, storage = case.store, MemoryStorage()
    kept, damaged, garbage = store.put_bytes(b"kept"), store.put_table(table()), None
    garbage = store.put_bytes(b"nobody needs this")
    storage.record_cache([entry("k1", kept, node="A"), entry("k2", damaged, node="B")])
    report = collect(store, storage, min_age_s=0)
    assert (report.files, report.bytes, report.damaged) == (1, len(b"nobody needs this"), [])
    assert not store.exists(garbage) and store.exists(kept)
    guard_cache_hits(storage, store)
    case.flip(damaged)
    assert set(storage.lookup_cache(["k1", "k2"])) == {"k1"}  # a hit on damage is a miss
    assert [n["digest"] for n in store.quarantined()] == [damaged]
    assert verify_store(store, storage, repair=True).affected == []  # already dropped
    assert verify_store(store, storage).ok


def test_concurrent_writers_of_one_table(case: Case) -> None:
    digests: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            digests.append(case.store.put_table(table(20_000)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(digests)) == 1
    assert list(case.store.iter_digests()) == digests[:1]
    assert case.store.get_table(digests[0]).num_rows == 20_000


@pytest.mark.parametrize("case", URL_KINDS, indirect=True)
def test_a_failed_commit_exposes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The folder store's temporary files are tested in test_artifacts.py.)"""
    store = case.store
    assert isinstance(store, FsspecArtifactStore)
    source = tmp_path / "blob.bin"
    source.write_bytes(b"y" * 100_000)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection reset")

    monkeypatch.setattr(store.fs, "copy" if store.atomic_put else "mv", broken)
    with pytest.raises(OSError, match="connection reset"):
        store.put_file(source)
    assert list(store.iter_digests()) == [] and case.listing() == []


@pytest.mark.parametrize("case", ["s3"], indirect=True)
def test_s3_puts_carry_the_digest_as_their_checksum(case: Case) -> None:
    """The server itself refuses an upload whose bytes do not hash to the digest."""
    store = case.store
    assert isinstance(store, FsspecArtifactStore)
    digest = store.put_table(table())
    bucket, _, key = store.path(digest).partition("/")
    head = store.fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == digest


@pytest.mark.parametrize("case", ["s3"], indirect=True)
def test_s3_check_needs_no_local_state(case: Case) -> None:
    """A store opened on another machine trusts what the server vouches for, nothing else."""
    store = case.store
    assert isinstance(store, FsspecArtifactStore)
    digest = store.put_table(table())
    elsewhere = FsspecArtifactStore(store.fs, store.root)  # no index, nothing hashed yet
    elsewhere._hash = None  # type: ignore[method-assign,assignment]  # would fail if called
    assert elsewhere.check(digest)
    case.flip(digest)  # an overwrite without checksum
    fresh = FsspecArtifactStore(store.fs, store.root)
    assert not fresh.check(digest)
    assert [n["digest"] for n in fresh.quarantined()] == [digest]
    # An overwrite carrying the true checksum of its own (wrong) bytes is not vouched for.
    other = store.put_bytes(b"the real content")
    wrong = b"the fake content"
    checksum = base64.b64encode(hashlib.sha256(wrong).digest()).decode()
    store.fs.pipe_file(store.path(other), wrong, ChecksumSHA256=checksum)
    assert not FsspecArtifactStore(store.fs, store.root).check(other)


@pytest.mark.parametrize("case", ["s3"], indirect=True)
def test_s3_abandoned_multipart_uploads_are_aborted(case: Case) -> None:
    """A writer killed mid-upload leaves invisible parts; clean_temporary aborts them."""
    store = case.store
    assert isinstance(store, FsspecArtifactStore)
    bucket, _, key = store.path("ab" * 32).partition("/")
    upload = store.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    store.fs.call_s3(
        "upload_part",
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"z" * 1024,
    )
    assert store.clean_temporary(3600) == (0, 0)  # too young
    time.sleep(1.1)  # Initiated has a one-second resolution
    assert store.clean_temporary(0) == (1, 0)
    assert store.clean_temporary(0) == (0, 0)
    assert not store.exists("ab" * 32)
