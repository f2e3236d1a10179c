"""In-run repair: a long-lived scheduler serves a producer from memory whose artifact rotted.

A chain Table -> reader on a fresh home with the inline executor and one scheduler kept alive
across runs, as the background process is. The table's artifact is damaged between runs in a
way no stat shows (bit rot), so the remembered result is reused, the new reader finds the rot,
and the run itself must repair it: the producer re-executes, the reader runs again, the results
are bit-identical, and the repair is recorded (the reader's error note, both nodes' logs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from accio.cache.artifacts import LocalArtifactStore
from accio.client.client import Client
from accio.config import Settings
from accio.engine.scheduler import Scheduler
from accio.executors.inline import InlineExecutor
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry
from accio.testing import Mean, RandomTable


@operator(category="test", help="Sum of column x (a reader that never ran before).")
class Total:
    class Inputs:
        data = Port("dataset")

    class Outputs:
        total = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"total": float(pc.sum(inputs["data"].column("x")).as_py())}


TABLE = {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}}
PARAMS = [{"name": "rows", "kind": "integer"}]
FIRST = {
    "id": "first",
    "params": PARAMS,
    "graph": [
        TABLE,
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
SECOND = {
    "id": "second",
    "params": PARAMS,
    "graph": [
        TABLE,
        {"op": "Total", "name": "Sum", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    registry = OperatorRegistry([RandomTable, Mean, Total])
    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "home")})
    with Client(settings=settings, registry=registry, autostart=False) as c:
        yield c


@pytest.fixture
def scheduler(client: Client) -> Iterator[Scheduler]:
    runtime = client.runtime  # type: ignore[attr-defined]
    sched = runtime.scheduler(
        executor=InlineExecutor(str(runtime.settings.artifacts_dir), runtime.registry)
    )
    try:
        yield sched
    finally:
        sched.close()


def execute(
    client: Client, scheduler: Scheduler, workflow: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    client.push(workflow)
    sub = client.submit(
        {"workflow": workflow["id"], "seed": 7, "params": {"rows": 4000}}, start=False
    )
    scheduler.run_until_idle(timeout=60)
    return sub.run_id, {n.name: n for n in client.nodes(sub.run_id)}


def rot(store: LocalArtifactStore, digest: str) -> None:
    """Flip bytes, put the mtime back and make the store's stat record match: only reading the
    bytes can tell."""
    path = store.path(digest)
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    st = path.stat()
    store._verified.put(digest, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


def test_a_rotten_input_served_from_memory_is_repaired_in_the_run(
    client: Client, scheduler: Scheduler
) -> None:
    _, first = execute(client, scheduler, FIRST)
    digest = json.loads(first["Table"].outputs)["data"]["value"]
    store: LocalArtifactStore = client.runtime.artifacts  # type: ignore[attr-defined]
    original = store.path(digest).read_bytes()
    expected = float(pc.sum(store.get_table(digest).column("x")).as_py())
    key = first["Table"].cache_key
    assert key in scheduler.machine._recent  # the long-lived scheduler remembers it
    rot(store, digest)

    run_id, second = execute(client, scheduler, SECOND)

    assert client.run(run_id).state == "success"
    assert second["Table"].state == "success"  # re-executed within the run
    assert second["Table"].outputs == first["Table"].outputs  # the same digest written back
    assert store.path(digest).read_bytes() == original  # bit-identical
    assert second["Sum"].state == "success"
    assert json.loads(second["Sum"].outputs)["total"]["value"] == expected
    assert second["Sum"].attempts == 2  # failed on the rot, then ran again
    note = json.loads(second["Sum"].error)  # what describe shows
    assert note["reason"] == "repaired" and note["digest"] == digest
    assert note["producer"] == "Table"
    assert [n["digest"] for n in store.quarantined()] == [digest]  # the rot kept aside
    table_logs = [line.line for line in client.logs(run_id, "Table")]
    sum_logs = [line.line for line in client.logs(run_id, "Sum")]
    assert any("re-executed (repair)" in line and digest[:12] in line for line in table_logs)
    assert any("corrupt" in line and "Table is re-executed" in line for line in sum_logs)
    stories = [t[4:6] for t in scheduler.machine.story(run_id, "Table")]
    assert ("cached", "pending") in stories  # a memory hit first, then the repair

    _, third = execute(client, scheduler, SECOND)  # the repaired result is reused again
    assert {n.state for n in third.values()} == {"cached"}
    assert third["Sum"].outputs == second["Sum"].outputs


def test_the_same_digest_rotten_again_after_its_repair_fails_for_real(
    client: Client, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once per digest per run: storage that keeps rotting must not loop forever."""
    _, first = execute(client, scheduler, FIRST)
    digest = json.loads(first["Table"].outputs)["data"]["value"]
    store: LocalArtifactStore = client.runtime.artifacts  # type: ignore[attr-defined]
    executor = scheduler.executor
    submit = executor.submit

    def rot_before_each_reader(tasks: Any) -> None:  # the first time, and after the repair
        if any(t.node == "Sum" for t in tasks) and store.exists(digest):
            rot(store, digest)
        submit(tasks)

    monkeypatch.setattr(executor, "submit", rot_before_each_reader)

    run_id, second = execute(client, scheduler, SECOND)

    assert client.run(run_id).state == "failed"
    assert second["Sum"].state == "failed"
    error = json.loads(second["Sum"].error)
    assert error["reason"] == "corrupt_input" and error["digest"] == digest
    assert second["Table"].state == "success"  # repaired once, not again
