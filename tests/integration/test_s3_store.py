"""A seeded sweep whose artifacts live in S3 (a real SeaweedFS), through the real engine.

Each run is its own process with its own environment, as on a cluster: the scheduler and its
forked workers reach the bucket through ``ACCIO_ARTIFACTS_URL`` / ``ACCIO_S3_ENDPOINT`` and the
AWS variables, and write nothing under ``$ACCIO_HOME/artifacts``. The same sweep on the folder
store must give the very same digests and metrics, and a second submission only cache hits.
Bytes flipped in the bucket are found by ``accio verify --repair`` (quarantined under the
prefix) and the next submission re-executes their producer alone, writing the same digest back.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

WORKFLOW: dict[str, Any] = {
    "id": "table_mean",
    "params": [{"name": "rows", "kind": "integer"}],
    "graph": [
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "name": "Mean", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "table_mean",
    "seed": 4242,
    "repeat": 2,
    "params": {"rows": {"values": [10, 1000, 20000]}},
}

#: Runs the sweep twice in a fresh process; prints, per submission, each child's outputs.
SCRIPT = """
import json, sys
from accio.client.client import Client
from accio.config import Settings

workflow, sweep = json.loads(sys.argv[1]), json.loads(sys.argv[2])
report = []
with Client(settings=Settings.from_env(), autostart=False) as client:
    client.push(workflow)
    for _ in range(2):
        run = client.submit(sweep)
        client.execute("local", timeout=240)
        children = {}
        for child in client.children(run.run_id):
            nodes = client.nodes(child.id)
            children[child.name] = {
                n.name: {"state": n.state, "outputs": json.loads(n.outputs or "{}")}
                for n in nodes
            }
        report.append(children)
print(json.dumps(report))
"""


def environment(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without Accio or AWS settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCIO_", "AWS_")) or k.startswith("ACCIO_TEST_")
    }
    env.update(
        ACCIO_HOME=str(home),
        ACCIO_PLUGINS="accio.testing:operators",
        ACCIO_CPUS="2",
        ACCIO_HTTP="off",
        **extra,
    )
    return env


def run_sweep(home: Path, extra: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(WORKFLOW), json.dumps(SWEEP)],
        env=environment(home, extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def results(children: dict[str, Any]) -> dict[str, tuple[str, float, int]]:
    """Per child: the table's digest, the mean and the row count."""
    out = {}
    for name, nodes in children.items():
        table = nodes["Table"]["outputs"]["data"]["value"]
        mean = nodes["Mean"]["outputs"]
        out[name] = (table, mean["mean"]["value"], mean["count"]["value"])
    return out


def test_sweep_on_s3_matches_the_folder_store(tmp_path: Path, s3_server: Any) -> None:
    local = run_sweep(tmp_path / "local", {})
    prefix = f"sweep-{uuid.uuid4().hex}"
    s3 = run_sweep(
        tmp_path / "s3",
        {"ACCIO_ARTIFACTS_URL": f"s3://{s3_server.bucket}/{prefix}", **s3_server.env()},
    )
    first, again = s3
    assert len(first) == 6
    assert {n["state"] for nodes in first.values() for n in nodes.values()} == {"success"}
    # Bit-identical artifacts and identical metrics, whatever the store.
    assert results(first) == results(local[0])
    assert len({digest for digest, _, _ in results(first).values()}) == 6
    # Re-submission: every node served from the cache, same outputs.
    assert {n["state"] for nodes in again.values() for n in nodes.values()} == {"cached"}
    assert results(again) == results(first)
    # The tables are in the bucket, verified by their hash, and nowhere on local disk.
    fs = s3_server.filesystem()
    stored = {p.rsplit("/", 2)[-2] + p.rsplit("/", 1)[-1] for p in fs.find(f"accio-test/{prefix}")}
    assert {digest for digest, _, _ in results(first).values()} <= stored
    local_files = [p for p in (tmp_path / "s3" / "artifacts").rglob("*") if p.is_file()]
    assert local_files == []
    for digest, _, rows in results(first).values():
        data = fs.cat_file(f"accio-test/{prefix}/{digest[:2]}/{digest[2:]}")
        assert hashlib.sha256(data).hexdigest() == digest
        assert (tmp_path / "local" / "artifacts" / digest[:2] / digest[2:]).read_bytes() == data
        assert rows in (10, 1000, 20000)

    # Rot in the bucket: `accio verify --repair` quarantines it under the prefix, and the next
    # submission re-executes only its producer, writing the very same bytes back.
    victim = sorted(results(first).values())[0][0]
    key = f"accio-test/{prefix}/{victim[:2]}/{victim[2:]}"
    data = bytearray(fs.cat_file(key))
    data[len(data) // 2] ^= 0x01
    fs.pipe_file(key, bytes(data))
    s3_env = environment(
        tmp_path / "s3",
        {"ACCIO_ARTIFACTS_URL": f"s3://{s3_server.bucket}/{prefix}", **s3_server.env()},
    )
    accio = Path(sys.executable).with_name("accio")
    done = subprocess.run(
        [str(accio), "verify", "--repair", "--json"],
        env=s3_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout)["quarantined"] == [victim]
    assert fs.find(f"accio-test/{prefix}/quarantine")  # kept aside with its note, not deleted
    repaired, cached = run_sweep(
        tmp_path / "s3",
        {"ACCIO_ARTIFACTS_URL": f"s3://{s3_server.bucket}/{prefix}", **s3_server.env()},
    )
    states = sorted(n["Table"]["state"] for n in repaired.values())
    assert states == ["cached"] * 5 + ["success"]
    assert results(repaired) == results(first)
    assert {n["Mean"]["state"] for n in repaired.values()} == {"cached"}  # same digest back
    assert hashlib.sha256(fs.cat_file(key)).hexdigest() == victim
    assert {n["state"] for nodes in cached.values() for n in nodes.values()} == {"cached"}
