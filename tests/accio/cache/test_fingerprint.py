"""File fingerprints: content decides, stat only saves re-hashing, and its cost is counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accio.cache import fingerprint as fp
from accio.cache.fingerprint import FingerprintCache, fingerprint_value, resolve


@pytest.fixture(autouse=True)
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashes of files written a moment ago are not remembered (coarse clocks); tests write
    files and look at them at once, so the racy window is closed here."""
    monkeypatch.setattr(fp, "RACY_NS", 0)


def test_hash_is_reused_while_the_stat_holds(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_bytes(b"x" * 1000)
    cache = FingerprintCache(tmp_path / "fp.sqlite3")
    first = cache.fingerprint(str(data))
    assert first.startswith("file:1000:")
    assert (cache.hashed, cache.stats) == (1, 1)
    assert cache.fingerprint(str(data)) == first
    assert (cache.hashed, cache.stats) == (1, 2)  # a stat, no hash
    reopened = FingerprintCache(tmp_path / "fp.sqlite3")  # a restarted scheduler
    assert reopened.fingerprint(str(data)) == first
    assert reopened.hashed == 0


def test_same_size_edit_is_seen_even_with_the_mtime_put_back(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_bytes(b"abcdef")
    cache = FingerprintCache()
    first = cache.fingerprint(str(data))
    before = data.stat()
    with open(data, "r+b") as handle:
        handle.write(b"X")
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert data.stat().st_size == before.st_size
    assert cache.fingerprint(str(data)) != first


def test_touch_alone_keeps_the_fingerprint(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_bytes(b"abcdef")
    cache = FingerprintCache()
    first = cache.fingerprint(str(data))
    os.utime(data, ns=(0, 10**18))
    assert cache.fingerprint(str(data)) == first
    assert cache.hashed == 2  # the stat changed, so it was re-hashed: same content


def test_directories_cover_every_file_below(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    cache = FingerprintCache()
    first = cache.fingerprint(str(root))
    assert first.startswith("dir:2:2:")
    assert cache.fingerprint(str(root)) == first
    assert cache.hashed == 2
    (root / "sub" / "b.txt").write_text("c")
    changed = cache.fingerprint(str(root))
    assert changed != first
    assert cache.hashed == 3  # only the changed file was hashed again
    (root / "sub" / "b.txt").rename(root / "sub" / "c.txt")  # same bytes, another name
    assert cache.fingerprint(str(root)) != changed


def test_paths_resolve_like_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "x").write_text("1")
    assert resolve("~/x") == tmp_path / "x"
    assert resolve(f"file://{tmp_path}/x") == tmp_path / "x"
    cache = FingerprintCache()
    assert cache.fingerprint("~/x") == cache.fingerprint(str(tmp_path / "x"))
    assert cache.fingerprint(str(tmp_path / "nope")) == "missing"
    assert fingerprint_value([str(tmp_path / "x"), str(tmp_path / "nope")], cache)[1] == "missing"


def test_snapshot_walks_a_path_once(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for i in range(20):
        (root / f"{i}.csv").write_text(str(i))
    cache = FingerprintCache()
    with cache.snapshot():
        prints = {cache.fingerprint(str(root)) for _ in range(100)}
    assert len(prints) == 1
    assert cache.stats == 21  # the directory and its 20 files, once
    cache.fingerprint(str(root))
    assert cache.stats == 42  # outside a snapshot every call looks again


def test_young_files_are_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the racy window a same-size rewrite could keep size and times: no reuse."""
    monkeypatch.setattr(fp, "RACY_NS", 3600 * 10**9)
    data = tmp_path / "a.csv"
    data.write_text("fresh")
    cache = FingerprintCache()
    cache.fingerprint(str(data))
    cache.fingerprint(str(data))
    assert cache.hashed == 2
