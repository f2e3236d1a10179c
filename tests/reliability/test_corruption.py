"""Damaged artifacts are never served: reads verify, hits check, and re-submission repairs.

A small workflow (a seeded random table, its mean, and a downstream total) runs on a fresh home
with the inline executor. Its table artifact is then flipped, truncated or emptied, with its mtime
put back as if nothing happened, and the test checks what a user would see: re-submitting
re-executes the damaged node and gives bit-identical results; a node reading a rotten input fails
with a clear reason naming the digest; ``export`` refuses (exit 4) instead of writing wrong values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from accio.cache.artifacts import CorruptArtifact, LocalArtifactStore
from accio.client.client import Client
from accio.client.export import export_run
from accio.config import Settings
from accio.errors import EXIT_RUNTIME, AccioError
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry
from accio.testing import Mean, RandomTable

DAMAGE = ("flip", "truncate", "empty")


@operator(category="test", help="Sum of column x (a second reader of the table).")
class Total:
    class Inputs:
        data = Port("dataset")

    class Outputs:
        total = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"total": float(pc.sum(inputs["data"].column("x")).as_py())}


TABLE_NODE = {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}}
MEAN_NODE = {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}}
TOTAL_NODE = {"op": "Total", "name": "Sum", "inputs": {"data": {"reference": "Table/data"}}}
PARAMS = [{"name": "rows", "kind": "integer"}]
BASE = {"id": "rot", "params": PARAMS, "graph": [TABLE_NODE, MEAN_NODE]}
WIDER = {"id": "rot", "params": PARAMS, "graph": [TABLE_NODE, MEAN_NODE, TOTAL_NODE]}
RUN = {"workflow": "rot", "seed": 7, "params": {"rows": 5000}}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    registry = OperatorRegistry([RandomTable, Mean, Total])
    settings = Settings.from_env({"ACCIO_HOME": str(home)})
    with Client(settings=settings, registry=registry, autostart=False) as c:
        yield c


def run(
    client: Client, workflow: dict[str, Any], executor: str = "inline"
) -> tuple[str, dict[str, Any]]:
    """Push, submit and execute; returns the run id and its nodes by name."""
    client.push(workflow)
    sub = client.submit(dict(RUN))
    client.execute(executor)  # type: ignore[arg-type]
    return sub.run_id, {n.name: n for n in client.nodes(sub.run_id)}


def table_digest(nodes: Mapping[str, Any]) -> str:
    return str(json.loads(nodes["Table"].outputs)["data"]["value"])


def damage(path: Path, how: str) -> None:
    """Damage an artifact in place and put its mtime back: the timestamp says nothing changed."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    if how == "flip":
        for at in (len(data) // 3, len(data) // 2):
            data[at] ^= 0xFF
    elif how == "truncate":
        del data[len(data) // 2 :]
    else:
        data.clear()
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def rot(store: LocalArtifactStore, digest: str, how: str) -> None:
    """Damage that no stat shows (bit rot): the store's record of the file is made to match,
    so only the hash of the bytes read can catch it."""
    path = store.path(digest)
    damage(path, how)
    st = path.stat()
    store._verified.put(digest, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


@pytest.mark.parametrize("how", DAMAGE)
def test_resubmission_reexecutes_the_damaged_node_bit_identically(
    client: Client, home: Path, how: str
) -> None:
    _first, nodes = run(client, BASE)
    digest = table_digest(nodes)
    store = LocalArtifactStore(home / "artifacts")
    original = store.path(digest).read_bytes()
    damage(store.path(digest), how)

    _second, again = run(client, BASE)

    assert again["Table"].state == "success"  # re-executed, not served from the cache
    assert again["Avg"].state == "cached"  # same digest written back: downstream keys hold
    assert again["Table"].outputs == nodes["Table"].outputs
    assert again["Avg"].outputs == nodes["Avg"].outputs
    assert store.path(digest).read_bytes() == original
    notes = store.quarantined()
    assert [n["digest"] for n in notes] == [digest]
    assert Path(notes[0]["path"]).exists()  # moved aside, never deleted
    _third, last = run(client, BASE)
    assert {n.state for n in last.values()} == {"cached"}


@pytest.mark.parametrize("how", DAMAGE)
def test_reader_of_a_rotten_input_is_repaired_within_its_run(
    client: Client, home: Path, how: str
) -> None:
    _, nodes = run(client, BASE)
    digest = table_digest(nodes)
    store = LocalArtifactStore(home / "artifacts")
    original = store.path(digest).read_bytes()
    expected = float(pc.sum(store.get_table(digest).column("x")).as_py())
    rot(store, digest, how)

    # The hit is trusted; the reader finds the rot; the run re-executes the producer (in-run
    # repair, tests/reliability/test_repair_in_run.py) and the reader runs again.
    repaired_run, repaired = run(client, WIDER)

    assert repaired["Table"].state == "success"
    assert repaired["Table"].outputs == nodes["Table"].outputs
    assert repaired["Sum"].state == "success"
    assert json.loads(repaired["Sum"].outputs)["total"]["value"] == expected
    note = json.loads(repaired["Sum"].error)  # what was repaired, shown by describe
    assert note["reason"] == "repaired" and note["digest"] == digest
    assert note["producer"] == "Table" and note["stacktrace"] == ""
    assert any(digest in c and "re-submit" in c for c in note["causes"])  # the reader's error
    assert client.run(repaired_run).state == "success"
    assert [n["digest"] for n in store.quarantined()] == [digest]  # the rot kept aside
    assert store.path(digest).read_bytes() == original
    _, again = run(client, WIDER)
    assert {n.state for n in again.values()} == {"cached"}


@pytest.mark.parametrize("how", DAMAGE)
def test_export_refuses_damaged_data_then_repaired_export_is_identical(
    client: Client, home: Path, tmp_path: Path, how: str
) -> None:
    first, nodes = run(client, BASE)
    digest = table_digest(nodes)
    store = LocalArtifactStore(home / "artifacts")
    good = store.get_table(digest)
    rot(store, digest, how)

    with pytest.raises(CorruptArtifact) as caught:
        export_run(client, [first], tmp_path / "bad", fmt="parquet", datasets=True)
    assert isinstance(caught.value, AccioError)
    assert caught.value.exit_code == EXIT_RUNTIME
    assert caught.value.digest == digest
    assert not list((tmp_path / "bad").rglob(f"{digest}.parquet"))  # nothing wrong written

    second, _ = run(client, BASE)
    result = export_run(client, [second], tmp_path / "good", fmt="parquet", datasets=True)
    copied = [f for f in result.files if f.name == f"{digest}.parquet"]
    assert len(copied) == 1
    import pyarrow.parquet as pq

    assert pq.read_table(copied[0]).equals(good)


def test_cli_export_of_damaged_data_exits_4_without_traceback(
    client: Client,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from accio.cli.main import main

    first, nodes = run(client, BASE)
    digest = table_digest(nodes)
    rot(LocalArtifactStore(home / "artifacts"), digest, "flip")
    client.close()
    monkeypatch.setenv("ACCIO_HOME", str(home))
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    out_dir = str(tmp_path / "out")  # datasets are copied only with --datasets
    code = main(["export", first, "--format", "parquet", "--datasets", "--out", out_dir])
    err = capsys.readouterr().err
    assert code == EXIT_RUNTIME
    assert digest in err
    assert "Traceback" not in err


def test_verify_repair_finds_quarantines_and_invalidates(client: Client, home: Path) -> None:
    from accio.cache.verify import verify_store

    first, nodes = run(client, BASE)
    digest = table_digest(nodes)
    store = LocalArtifactStore(home / "artifacts")
    rot(store, digest, "flip")
    storage = client.storage

    dry = verify_store(store, storage, repair=False)
    assert list(dry.damaged) == [digest]
    assert dry.affected == [(first, "Table", "RandomTable")]
    assert store.exists(digest)  # a dry run moves nothing

    fixed = verify_store(store, storage, repair=True)
    assert fixed.quarantined == [digest]
    assert fixed.runs == [first]
    assert not store.exists(digest)
    assert verify_store(store, storage).missing == [digest]  # still referenced by the run

    _, again = run(client, BASE)
    assert again["Table"].state == "success"
    assert verify_store(store, storage).ok


def test_artifact_rows_are_equal_after_repair(client: Client, home: Path) -> None:
    """The re-executed producer's table is the same table, row for row."""
    _, nodes = run(client, BASE)
    digest = table_digest(nodes)
    store = LocalArtifactStore(home / "artifacts")
    before: pa.Table = store.get_table(digest)
    damage(store.path(digest), "truncate")
    run(client, BASE)
    assert store.get_table(digest).equals(before)


def test_worker_processes_fail_the_reader_not_themselves(
    client: Client, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same story with the local process pool: the worker survives and reports the digest."""
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")  # what workers load
    _, nodes = run(client, BASE, "local")
    digest = table_digest(nodes)
    rot(LocalArtifactStore(home / "artifacts"), digest, "flip")
    # Forget the reader's own result, as for a new downstream node: it must read its input.
    assert nodes["Avg"].cache_key is not None
    client.storage.delete_cache_entries([nodes["Avg"].cache_key])

    _, repaired = run(client, BASE, "local")

    assert repaired["Table"].state == "success"  # re-executed within the run (repair)
    assert repaired["Avg"].state == "success"
    assert repaired["Avg"].attempts == 2  # failed on the rot (not a crash), then ran again
    assert json.loads(repaired["Avg"].error)["digest"] == digest
    assert repaired["Avg"].outputs == nodes["Avg"].outputs


def test_cli_verify_reports_then_repairs(
    client: Client,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from accio.cli.main import main

    first, nodes = run(client, BASE)
    digest = table_digest(nodes)
    rot(LocalArtifactStore(home / "artifacts"), digest, "truncate")
    monkeypatch.setenv("ACCIO_HOME", str(home))
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    assert main(["verify"]) == EXIT_RUNTIME
    text = capsys.readouterr().out
    assert f"damaged {digest}" in text and "accio verify --repair" in text
    assert main(["verify", "--repair", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quarantined"] == [digest]
    assert report["runs"] == [first]
    _, again = run(client, BASE)
    assert again["Table"].state == "success"
    assert main(["verify"]) == 0
