"""Every executed node records where it ran; a cache hit records nothing (it ran nowhere)."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from accio.cli.commands.describe import ran_on_text
from accio.client.client import Client
from accio.client.models import node_detail_out, node_out
from accio.engine.scheduler import Scheduler
from accio.executors.local import LocalExecutor
from accio.executors.worker import ran_on
from accio.storage import schema
from accio.storage.memory import MemoryStorage
from accio.storage.records import NodeRecord, RunRecord
from accio.storage.sqlite import create_engine, current_revision, open_storage

SUM = {
    "id": "sum",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Add", "name": "Total", "inputs": {"a": {"reference": "In/value"}, "b": 2.0}},
    ],
}


@pytest.fixture
def client(local_client: Client) -> Client:
    local_client.push(SUM)
    return local_client


def run_locally(client: Client, spec: dict[str, object]) -> tuple[str, set[int]]:
    """Submit ``spec`` and run it on real local worker processes: (run id, worker pids)."""
    sub = client.submit(spec, start=False)
    executor = LocalExecutor(str(client.settings.artifacts_dir), slots=2)
    scheduler = Scheduler(
        client.runtime.storage, executor, client.runtime.registry, client.runtime.capacity
    )
    try:
        scheduler.run_until_idle(timeout=60)
        pids = {w.process.pid for w in executor._workers if w.process.pid is not None}
    finally:
        executor.stop()
        scheduler.close()
    return sub.run_id, pids


def test_a_local_run_records_host_and_worker_pid_and_a_cache_hit_records_nothing(
    client: Client,
) -> None:
    run_id, pids = run_locally(client, {"workflow": "sum", "params": {"x": 1.0}})
    nodes = client.nodes(run_id)
    assert {n.state for n in nodes} == {"success"}
    host = socket.gethostname()
    for n in nodes:
        name, _, pid = n.ran_on.partition(" pid ")
        assert name == host, n.ran_on
        assert int(pid) in pids and int(pid) != os.getpid(), (n.ran_on, pids)
        # what users see: describe (text and JSON) and the REST node JSON
        assert ran_on_text(n) == n.ran_on
        assert node_out(n).ran_on == node_detail_out(n).ran_on == n.ran_on

    again, _ = run_locally(client, {"workflow": "sum", "params": {"x": 1.0}})
    hits = client.nodes(again)
    assert {n.state for n in hits} == {"cached"}
    assert {n.ran_on for n in hits} == {""}
    assert {ran_on_text(n) for n in hits} == {"cache"}


@pytest.mark.parametrize(
    ("env", "system", "job"),
    [
        ({"SLURM_JOB_ID": "1234"}, "slurm", "1234"),
        ({"PBS_JOBID": "77.server"}, "pbs", "77.server"),
        ({"JOB_ID": "9"}, "sge", "9"),
    ],
)
def test_inside_a_batch_job_the_job_is_named(env: dict[str, str], system: str, job: str) -> None:
    assert ran_on(env) == f"{system} job {job} on {socket.gethostname()}"


def test_outside_a_batch_job_host_and_pid() -> None:
    assert ran_on({}) == f"{socket.gethostname()} pid {os.getpid()}"
    assert ran_on({"SLURM_JOB_ID": "  "}) == f"{socket.gethostname()} pid {os.getpid()}"


# -- storage ---------------------------------------------------------------------------------

RUN = RunRecord(
    id="a" * 32,
    parent_id=None,
    workflow_id="wf",
    workflow_version="v1",
    name=None,
    notes=None,
    tags=(),
    owner="ada",
    created=1.0,
    seed=7,
    params="{}",
    repeat_index=0,
    child_index=None,
    state="pending",
    started=None,
    completed=None,
    n_children=0,
)
NODE = NodeRecord(
    RUN.id, "N", "Op", "pending", None, None, 0, None, None, None, None, None, None, 0
)


@pytest.mark.parametrize("backend", ["sqlite", "memory", "postgres"])
def test_ran_on_round_trips(backend: str, tmp_path: Path) -> None:
    run = dataclasses.replace(RUN, id=uuid.uuid4().hex)  # the PostgreSQL database is shared
    node = dataclasses.replace(NODE, run_id=run.id)
    if backend == "memory":
        storage = MemoryStorage()
    elif backend == "sqlite":
        storage = open_storage(f"sqlite:///{tmp_path / 'a.db'}")
    else:
        url = os.environ.get("ACCIO_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set ACCIO_TEST_POSTGRES_URL to test PostgreSQL")
        storage = open_storage(url)
    try:
        storage.create_runs([run], [node])
        assert storage.get_node(run.id, "N").ran_on == ""
        done = dataclasses.replace(node, state="success", ran_on="slurm job 42 on node7")
        storage.update_nodes([done])
        assert storage.get_node(run.id, "N").ran_on == "slurm job 42 on node7"
        assert storage.get_nodes(run.id) == [done]
    finally:
        if backend == "postgres":
            storage.delete_run(run.id)
        storage.close()


def test_a_home_at_0005_gains_ran_on_and_keeps_its_nodes(tmp_path: Path) -> None:
    """Nodes stored before migration 0006 read back with an unknown (empty) ran_on."""
    from alembic import command

    from accio.storage.sqlite import alembic_config, head_revision

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        old_nodes = sa.table(
            "nodes", *(sa.column(c.name) for c in schema.nodes.c if c.name != "ran_on")
        )
        conn.execute(
            schema.runs.insert(),
            {**dataclasses.asdict(RUN), "tags": "[]", "progress": 0.0, "force": None},
        )
        old = {k: v for k, v in dataclasses.asdict(NODE).items() if k != "ran_on"}
        conn.execute(old_nodes.insert(), {**old, "state": "success", "attempts": 1})
    engine.dispose()
    storage = open_storage(url)
    try:
        assert current_revision(storage.engine) == head_revision()
        node = storage.get_node(RUN.id, "N")
        assert (node.state, node.attempts, node.ran_on) == ("success", 1, "")
        storage.update_nodes([dataclasses.replace(node, ran_on="host pid 1")])
        assert storage.get_node(RUN.id, "N").ran_on == "host pid 1"
    finally:
        storage.close()
    with create_engine(url).begin() as conn:  # and back down
        command.downgrade(alembic_config(conn), "0005")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("nodes")}
    assert "ran_on" not in columns and "position" in columns
