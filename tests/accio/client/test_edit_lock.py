"""Two commands editing the clusters or credentials file at once: neither change is lost."""

from __future__ import annotations

import multiprocessing
import stat
import time
from pathlib import Path

from accio.client.clusters import Cluster, ClusterBook, load, update
from accio.client.credentials import load_token, save_token

WRITERS = 6


def _add_cluster(path: str, n: int) -> None:
    def add(book: ClusterBook) -> ClusterBook:
        time.sleep(0.05)  # a slow read-change-write: every writer overlaps the others
        return book.with_cluster(Cluster(f"c{n}", f"http://host{n}.example:8765", f"tok-{n}"))

    update(Path(path), add)


def _save_token(path: str, n: int) -> None:
    save_token(Path(path), f"http://host{n}.example:8765", f"tok-{n}")


def _all_at_once(target: object, path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=(str(path), n)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_concurrent_cluster_edits_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "config" / "clusters.toml"
    _all_at_once(_add_cluster, path)
    book = load(path)
    assert sorted(book.names()) == [f"c{n}" for n in range(WRITERS)]
    assert {c.token for c in book} == {f"tok-{n}" for n in range(WRITERS)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".clusters.toml.")] == [
        ".clusters.toml.lock"
    ]  # no temporary file left behind


def test_concurrent_logins_keep_every_token(tmp_path: Path) -> None:
    path = tmp_path / "config" / "credentials.json"
    _all_at_once(_save_token, path)
    for n in range(WRITERS):
        assert load_token(path, f"http://host{n}.example:8765/") == f"tok-{n}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
