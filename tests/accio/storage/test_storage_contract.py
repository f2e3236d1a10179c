"""The storage contract, run against every backend.

Backends: SQLite (a fresh file per test), :class:`MemoryStorage`, and PostgreSQL when
``ACCIO_TEST_POSTGRES_URL`` is set. A new backend joins by adding a case to the ``storage``
fixture. SQLite-only behaviour (migrations, pragmas, concurrent opening) is tested at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from accio.config import Settings
from accio.errors import NotFoundError, UsageError
from accio.storage import schema
from accio.storage.base import RunExistsError, Storage, StorageError
from accio.storage.memory import MemoryStorage
from accio.storage.records import (
    CacheEntry,
    LogLine,
    NodeRecord,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
    dataset_digests,
)
from accio.storage.sql import CACHE_COLUMNS, NODE_COLUMNS, RUN_COLUMNS, SqlStorage
from accio.storage.sqlite import current_revision, head_revision, open_storage

POSTGRES_URL = os.environ.get("ACCIO_TEST_POSTGRES_URL")


def _truncate_postgres(storage: SqlStorage) -> None:
    names = ", ".join(t.name for t in schema.metadata.sorted_tables)
    with storage.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} CASCADE")


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    backend: Storage
    if request.param == "sqlite":
        backend = open_storage(f"sqlite:///{tmp_path / 'accio.db'}")
    elif request.param == "memory":
        backend = MemoryStorage()
    else:
        if not POSTGRES_URL:
            pytest.skip("set ACCIO_TEST_POSTGRES_URL to test PostgreSQL")
        backend = open_storage(POSTGRES_URL)
        assert isinstance(backend, SqlStorage)
        _truncate_postgres(backend)
    yield backend
    backend.close()


# -- builders ---------------------------------------------------------------------------------


def digest(n: int) -> str:
    return f"{n:064x}"


def dataset(n: int) -> dict[str, str]:
    return {"type": "dataset", "value": digest(n)}


def make_run(
    n: int,
    *,
    parent: RunRecord | None = None,
    child_index: int | None = None,
    n_children: int = 0,
    created: float | None = None,
    **fields: object,
) -> RunRecord:
    run = RunRecord(
        id=f"{n:032x}",
        parent_id=parent.id if parent else None,
        workflow_id=parent.workflow_id if parent else "wf",
        workflow_version="v1",
        name=None,
        notes=None,
        tags=parent.tags if parent else (),
        owner="ada",
        created=created if created is not None else 1000.0 + n,
        seed=2**63 - 1 - n,
        params=f'{{"eps": {{"type": "long", "value": {n}}}}}',
        repeat_index=0,
        child_index=child_index,
        state="pending",
        started=None,
        completed=None,
        n_children=n_children,
    )
    return dataclasses.replace(run, **fields) if fields else run  # type: ignore[arg-type]


def make_node(run: RunRecord, name: str, position: int, **fields: object) -> NodeRecord:
    node = NodeRecord(
        run_id=run.id,
        name=name,
        op="Op",
        state="pending",
        cache_key=None,
        seed=None,
        attempts=0,
        queued_at=None,
        started=None,
        completed=None,
        error=None,
        outputs=None,
        cache_source=None,
        position=position,
    )
    return dataclasses.replace(node, **fields) if fields else node  # type: ignore[arg-type]


def make_entry(
    key: str, *, outputs: object = None, created: float = 1.0, **fields: object
) -> CacheEntry:
    entry = CacheEntry(
        key=key,
        op="Op",
        op_version="1",
        code_hash="c0de",
        components=json.dumps({"inputs": {"x": "d1"}, "seed": None}),
        outputs=json.dumps(
            outputs if outputs is not None else {"y": {"type": "double", "value": 1.0}}
        ),
        run_id="r" * 32,
        node="n",
        created=created,
        duration=0.5,
    )
    return dataclasses.replace(entry, **fields)  # type: ignore[arg-type]


def make_sweep(
    n_children: int, nodes_per_child: int = 3, base: int = 10**6, **parent_fields: object
) -> tuple[RunRecord, list[RunRecord], list[NodeRecord]]:
    parent = make_run(base, n_children=n_children, **parent_fields)
    children = [
        make_run(base + 1 + i, parent=parent, child_index=i, created=parent.created)
        for i in range(n_children)
    ]
    nodes = [make_node(c, f"n{j}", j) for c in children for j in range(nodes_per_child)]
    return parent, children, nodes


def ids(runs: list[RunRecord]) -> list[str]:
    return [r.id for r in runs]


# -- the contract -----------------------------------------------------------------------------


class TestWorkflows:
    def test_versions_and_activation(self, storage: Storage) -> None:
        v1 = WorkflowRecord("wf", "v1", '{"a": 1}', "First", "ada", 1.0, active=False)
        v2 = dataclasses.replace(v1, version="v2", definition='{"a": 2}', created=2.0)
        assert storage.push_workflow(v1) is True
        assert storage.get_workflow("wf") == dataclasses.replace(v1, active=True)
        assert storage.push_workflow(v2) is True
        assert storage.get_workflow("wf").version == "v2"
        assert storage.get_workflow("wf", "v1").active is False
        # Pushing a known version re-activates it and keeps its definition.
        assert storage.push_workflow(dataclasses.replace(v1, definition="changed")) is False
        assert storage.get_workflow("wf").version == "v1"
        assert storage.get_workflow("wf").definition == '{"a": 1}'
        assert storage.get_workflow("wf", "v2").active is False
        versions = storage.workflow_versions("wf")
        assert [(w.version, w.active) for w in versions] == [("v2", False), ("v1", True)]
        assert storage.workflow_versions("nope") == []
        with pytest.raises(NotFoundError):
            storage.get_workflow("nope")
        with pytest.raises(NotFoundError):
            storage.get_workflow("wf", "v9")

    def test_list_active_newest_first(self, storage: Storage) -> None:
        for i, (wid, owner, name) in enumerate(
            [("alpha", "ada", "Noise 100%"), ("beta", "bob", None), ("gamma", "ada", "Other")]
        ):
            storage.push_workflow(WorkflowRecord(wid, "v1", "{}", name, owner, float(i), False))
        storage.push_workflow(WorkflowRecord("alpha", "v2", "{}", "Noise 100%", "ada", 9.0, False))
        listed = storage.list_workflows()
        assert [(w.id, w.version) for w in listed] == [
            ("alpha", "v2"),
            ("gamma", "v1"),
            ("beta", "v1"),
        ]
        assert [w.id for w in storage.list_workflows(owner="ada")] == ["alpha", "gamma"]
        assert [w.id for w in storage.list_workflows(text="ETA")] == ["beta"]
        assert [w.id for w in storage.list_workflows(text="100%")] == ["alpha"]
        assert storage.list_workflows(text="_") == []
        assert [w.id for w in storage.list_workflows(limit=1, offset=1)] == ["gamma"]
        every = storage.list_workflows(include_inactive=True)
        assert [(w.id, w.version) for w in every][:2] == [("alpha", "v2"), ("gamma", "v1")]
        assert len(every) == 4


class TestRuns:
    def test_sweep_of_ten_thousand_children_in_one_call(self, storage: Storage) -> None:
        parent, children, nodes = make_sweep(10_000, tags=("pilot",))
        single = make_run(1, name="single")
        started = time.perf_counter()
        storage.create_runs([parent, *children, single], [*nodes, make_node(single, "n0", 0)])
        elapsed = time.perf_counter() - started
        assert elapsed < 10, f"create_runs took {elapsed:.2f}s"  # about 0.5 s on SQLite

        assert storage.get_run(parent.id) == parent
        assert storage.get_run(children[1234].id) == children[1234]
        assert storage.count_runs(RunsFilter(parent_id=parent.id)) == 10_000
        assert ids(storage.children(parent.id, limit=3, offset=10)) == ids(children[10:13])
        assert len(storage.children(parent.id)) == 10_000
        assert storage.get_nodes(children[7].id) == nodes[21:24]
        # Children never show in top-level listings.
        assert ids(storage.list_runs(RunsFilter())) == [parent.id, single.id]
        assert storage.count_runs(RunsFilter()) == 2
        assert storage.count_runs(RunsFilter(top_level_only=False)) == 10_002
        counts = storage.node_state_counts([children[0].id, children[9999].id, "missing"])
        assert counts == {children[0].id: {"pending": 3}, children[9999].id: {"pending": 3}}

    def test_create_runs_is_atomic(self, storage: Storage) -> None:
        a, b = make_run(1), make_run(2)
        storage.create_runs([a], [make_node(a, "n", 0)])
        with pytest.raises(RunExistsError, match=a.id):
            storage.create_runs([b, a], [make_node(b, "n", 0)])
        with pytest.raises(NotFoundError):
            storage.get_run(b.id)
        assert storage.get_nodes(b.id) == []

    def test_get_runs_keeps_order_and_skips_missing(self, storage: Storage) -> None:
        runs = [make_run(i) for i in range(5)]
        storage.create_runs(runs, [])
        wanted = [runs[3].id, "missing", runs[0].id, runs[3].id]
        assert ids(storage.get_runs(wanted)) == [runs[3].id, runs[0].id]
        assert storage.get_runs([]) == []
        with pytest.raises(NotFoundError):
            storage.get_run("missing")

    def test_63_bit_seeds_round_trip(self, storage: Storage) -> None:
        run = make_run(1, seed=2**63 - 1)
        storage.create_runs([run], [make_node(run, "n", 0, seed=2**63 - 2)])
        assert storage.get_run(run.id).seed == 2**63 - 1
        assert storage.get_node(run.id, "n").seed == 2**63 - 2

    def test_filters(self, storage: Storage) -> None:
        runs = [
            make_run(1, workflow_id="wa", owner="ada", tags=("x", "y"), state="success"),
            make_run(2, workflow_id="wa", owner="bob", tags=("x",), state="running"),
            make_run(3, workflow_id="wb", owner="ada", tags=("y", "z"), state="failed"),
            make_run(4, workflow_id="wb", owner="ada", tags=(), state="pending"),
        ]
        storage.create_runs(runs, [])
        r1, r2, r3, r4 = (r.id for r in runs)

        def found(**kw: object) -> list[str]:
            f = RunsFilter(**kw)  # type: ignore[arg-type]
            unpaged = dataclasses.replace(f, limit=100, offset=0)
            assert storage.count_runs(f) == len(storage.list_runs(unpaged))
            return ids(storage.list_runs(f))

        assert found() == [r4, r3, r2, r1]  # newest first
        assert found(workflow="wa") == [r2, r1]
        assert found(owner="ada") == [r4, r3, r1]
        assert found(states=("failed", "success")) == [r3, r1]
        assert found(tags=("x",)) == [r2, r1]
        assert found(tags=("x", "y")) == [r1]  # all of them
        assert found(tags=("y", "z", "x")) == []
        assert found(workflow="wb", owner="ada", tags=("z",)) == [r3]
        assert found(limit=2) == [r4, r3]
        assert found(limit=2, offset=2) == [r2, r1]
        assert found(limit=2, offset=4) == []
        assert storage.count_runs(RunsFilter(limit=1)) == 4

    def test_ties_on_created_are_broken_by_id(self, storage: Storage) -> None:
        runs = [make_run(i, created=5.0) for i in (3, 1, 2)]
        storage.create_runs(runs, [])
        assert ids(storage.list_runs(RunsFilter())) == sorted(ids(runs))

    def test_tag_filter_on_children_uses_the_parent(self, storage: Storage) -> None:
        parent, children, _ = make_sweep(3, tags=("t",))
        storage.create_runs([parent, *children], [])
        assert len(storage.list_runs(RunsFilter(parent_id=parent.id, tags=("t",)))) == 3
        assert storage.list_runs(RunsFilter(parent_id=parent.id, tags=("u",))) == []
        # Children share the parent's creation time: ties are broken by id.
        assert ids(storage.list_runs(RunsFilter(parent_id=parent.id))) == ids(children)

    def test_text_search(self, storage: Storage) -> None:
        runs = [
            make_run(1, name="Baseline foo-bar", notes="first try"),
            make_run(2, name="Geo-indistinguishability", tags=("city-A", "pilot")),
            make_run(3, name='quote "me"', notes="Noise level: 100%"),
        ]
        parent, children, _ = make_sweep(2, name="sweep over eps")
        hidden = dataclasses.replace(children[0], name="foo-bar child")
        storage.create_runs([*runs, parent, hidden, children[1]], [])
        r1, r2, r3 = (r.id for r in runs)

        def search(text: str) -> list[str]:
            listed = ids(storage.list_runs(RunsFilter(text=text)))
            assert storage.count_runs(RunsFilter(text=text)) == len(listed)
            return listed

        # A child's name finds its sweep (the child itself is not listed).
        assert search("foo-bar") == [parent.id, r1]
        assert search("FOO") == [parent.id, r1]  # case-insensitive prefix
        assert search("bar") == [parent.id, r1]
        assert search("fo ba") == [parent.id, r1]
        assert search("baseline") == [r1]
        assert search("try first") == [r1]  # notes, any order
        assert search("geo indist") == [r2]
        assert search("city") == [r2]  # tags
        assert search("pilot") == [r2]
        assert search("me") == [r3]
        assert search("noise 100") == [r3]  # (children of the sweep have eps=100000x)
        assert search("sweep over") == [parent.id]
        assert search("eps") == [parent.id, r3, r2, r1]  # every run has the parameter eps
        assert search("oo") == []  # prefixes only
        assert search("foo zebra") == []
        # Awkward input never raises; text without words does not filter.
        for awkward in ['"', "*", 'foo"bar', "a AND", "NOT", "(", "'", "foo*", "-bar", "^x"]:
            storage.list_runs(RunsFilter(text=awkward))
            storage.count_runs(RunsFilter(text=awkward))
        assert search('"') == [parent.id, r3, r2, r1]
        assert search('foo"') == [parent.id, r1]
        assert search("AND") == []

    def test_text_search_finds_parameter_values_and_child_names(self, storage: Storage) -> None:
        def params(**values: object) -> str:
            return json.dumps(
                {k: {"type": "double" if isinstance(v, float) else "string", "value": v}
                 for k, v in values.items()}
            )  # fmt: skip

        single = make_run(1, name="single", params=params(epsilon=0.5, uri="/data/geolife"))
        parent = make_run(2, name="the sweep", n_children=3, params="{}")
        children = [
            make_run(
                3 + i,
                parent=parent,
                child_index=i,
                name=f"epsilon={eps} #1",
                params=params(epsilon=eps, uri="/data/cabs"),
            )
            for i, eps in enumerate((0.001, 0.01, 0.1))
        ]
        storage.create_runs([single, parent, *children], [])

        def search(text: str) -> list[str]:
            listed = ids(storage.list_runs(RunsFilter(text=text)))
            assert storage.count_runs(RunsFilter(text=text)) == len(listed)
            return listed

        assert search("epsilon=0.01") == [parent.id]  # a child's value finds its sweep
        assert search("epsilon=0.5") == [single.id]  # a single run's own value
        assert search("epsilon=0.2") == []
        assert search("uri=cabs") == [parent.id]  # a path by its last part
        assert search("uri=geolife") == [single.id]
        assert search("epsilon=0.1 #1") == [parent.id]  # child names
        assert search("epsilon=0.01 single") == []  # every term must match the same run
        assert search("epsilon") == [parent.id, single.id]
        # editing metadata keeps the parameters searchable
        storage.update_metadata(parent.id, name="renamed")
        assert search("epsilon=0.01 renamed") == [parent.id]
        assert search("the sweep") == []

    def test_update_metadata_of_a_child_edits_its_parent(self, storage: Storage) -> None:
        parent, children, _ = make_sweep(3, name="old name", tags=("a", "b"))
        storage.create_runs([parent, *children], [])
        edited = storage.update_metadata(children[1].id, name="Brand new", tags=("c", "c", "d"))
        assert edited.id == parent.id
        assert edited.name == "Brand new"
        assert edited.tags == ("c", "d")
        assert edited.notes is None
        assert storage.get_run(children[1].id).name is None
        assert storage.get_run(children[1].id).tags == ("c", "d")
        assert ids(storage.list_runs(RunsFilter(text="brand"))) == [parent.id]
        assert storage.list_runs(RunsFilter(text="old")) == []
        assert ids(storage.list_runs(RunsFilter(tags=("d",)))) == [parent.id]
        assert storage.list_runs(RunsFilter(tags=("a",))) == []
        assert ids(storage.list_runs(RunsFilter(text="d"))) == [parent.id]  # tags indexed too

        noted = storage.update_metadata(parent.id, notes="with notes")
        assert (noted.name, noted.notes, noted.tags) == ("Brand new", "with notes", ("c", "d"))
        assert ids(storage.list_runs(RunsFilter(text="notes brand"))) == [parent.id]
        cleared = storage.update_metadata(parent.id, name="", tags=())
        assert (cleared.name, cleared.tags) == (None, ())
        assert storage.list_runs(RunsFilter(text="brand")) == []
        with pytest.raises(NotFoundError):
            storage.update_metadata("missing", name="x")

    def test_states_and_unfinished_runs(self, storage: Storage) -> None:
        parent, children, _ = make_sweep(2)
        single, done = make_run(1), make_run(2, state="success")
        storage.create_runs([parent, *children, single, done], [])
        assert ids(storage.unfinished_runs()) == [single.id, *ids(children)]
        storage.set_run_states(
            [
                (parent.id, "running", 5.0, None, 0.5),
                (children[0].id, "success", 5.0, 6.0, 1.0),
                (single.id, "running", 7.0, None, 0.25),
            ]
        )
        assert ids(storage.unfinished_runs()) == [single.id, children[1].id]
        got = storage.get_run(children[0].id)
        assert (got.state, got.started, got.completed, got.progress) == ("success", 5.0, 6.0, 1.0)
        assert storage.get_run(parent.id).progress == 0.5
        storage.set_run_states([])

    def test_delete_cascades(self, storage: Storage) -> None:
        parent, children, nodes = make_sweep(3)
        other = make_run(1)
        storage.create_runs([parent, *children, other], [*nodes, make_node(other, "n", 0)])
        out = json.dumps({"o": dataset(1)})
        storage.update_nodes([dataclasses.replace(nodes[0], state="success", outputs=out)])
        storage.append_logs(
            [LogLine(c.id, "n0", 1.0, "stdout", "hi") for c in children]
            + [LogLine(other.id, "n", 1.0, "stdout", "kept")]
        )
        assert storage.referenced_digests() == {digest(1)}
        assert storage.delete_run(parent.id) == [parent.id, *ids(children)]
        for run in (parent, *children):
            with pytest.raises(NotFoundError):
                storage.get_run(run.id)
            assert storage.get_nodes(run.id) == []
            assert storage.get_logs(run.id, None) == []
        assert storage.node_state_counts(ids(children)) == {}
        assert storage.referenced_digests() == set()
        assert ids(storage.list_runs(RunsFilter())) == [other.id]
        assert len(storage.get_logs(other.id, "n")) == 1
        with pytest.raises(NotFoundError):
            storage.delete_run(parent.id)

    def test_delete_one_child(self, storage: Storage) -> None:
        parent, children, nodes = make_sweep(2)
        storage.create_runs([parent, *children], nodes)
        assert storage.delete_run(children[0].id) == [children[0].id]
        assert ids(storage.children(parent.id)) == [children[1].id]
        assert storage.get_run(parent.id).n_children == 2  # a parent stays a parent

    def test_run_ids_with_prefix_include_children(self, storage: Storage) -> None:
        parent, children, nodes = make_sweep(3, base=0xABC00)
        storage.create_runs([parent, *children], nodes)
        storage.create_runs([make_run(0xABD00)], [])
        assert storage.run_ids_with_prefix(children[1].id) == [children[1].id]
        prefix = parent.id[:-2]  # shared by the parent and its children, not by 0xabd00
        assert storage.run_ids_with_prefix(prefix) == sorted(ids([parent, *children]))
        assert storage.run_ids_with_prefix(prefix, limit=2) == sorted(ids([parent, *children]))[:2]
        assert storage.run_ids_with_prefix("zz") == []
        assert storage.run_ids_with_prefix(parent.id[:-2].upper()) == []  # ids are exact

    def test_child_state_and_node_counts(self, storage: Storage) -> None:
        parent, children, nodes = make_sweep(3, nodes_per_child=2)
        storage.create_runs([parent, *children], nodes)
        storage.set_run_states([(children[0].id, "success", 1.0, 2.0, 1.0)])
        storage.update_nodes([dataclasses.replace(nodes[0], state="cached")])
        assert storage.child_state_counts(parent.id) == {"success": 1, "pending": 2}
        assert storage.child_node_counts(parent.id) == {
            "n0": {"cached": 1, "pending": 2},
            "n1": {"pending": 3},
        }
        assert storage.child_state_counts(children[0].id) == {}
        assert storage.child_node_counts(children[0].id) == {}


class TestNodes:
    def test_upsert_and_resume_order(self, storage: Storage) -> None:
        early, late = make_run(1, created=1.0), make_run(2, created=2.0)
        nodes = [make_node(r, f"n{i}", i) for r in (late, early) for i in range(3)]
        storage.create_runs([late, early], nodes)
        assert [n.name for n in storage.get_nodes(late.id)] == ["n0", "n1", "n2"]
        storage.update_nodes(
            [
                dataclasses.replace(nodes[2], state="queued", queued_at=30.0),
                dataclasses.replace(nodes[4], state="queued", queued_at=10.0),
                dataclasses.replace(nodes[0], state="running", queued_at=20.0, started=21.0),
                # The last update of a node in one batch wins.
                dataclasses.replace(nodes[1], state="queued", queued_at=99.0),
                dataclasses.replace(nodes[1], state="failed", error='{"message": "boom"}'),
            ]
        )
        resumable = storage.nodes_in_states(["queued", "running"])
        assert [(n.run_id, n.name) for n in resumable] == [
            (early.id, "n1"),
            (late.id, "n0"),
            (late.id, "n2"),
        ]
        pending = storage.nodes_in_states(["pending"])
        assert [(n.run_id, n.name) for n in pending] == [(early.id, "n0"), (early.id, "n2")]
        assert storage.nodes_in_states([]) == []
        failed = storage.get_node(late.id, "n1")
        assert (failed.state, failed.queued_at, failed.error) == (
            "failed",
            None,
            '{"message": "boom"}',
        )
        assert storage.node_state_counts([late.id]) == {
            late.id: {"running": 1, "failed": 1, "queued": 1}
        }
        with pytest.raises(NotFoundError):
            storage.get_node(late.id, "missing")

    def test_nodes_need_their_run(self, storage: Storage) -> None:
        ghost = make_run(404)
        with pytest.raises(StorageError):
            storage.update_nodes([make_node(ghost, "n", 0)])
        with pytest.raises(StorageError):
            storage.create_runs([], [make_node(ghost, "n", 0)])

    def test_update_nodes_can_insert(self, storage: Storage) -> None:
        run = make_run(1)
        storage.create_runs([run], [])
        node = make_node(run, "late", 4, state="cached", cache_source="f" * 32)
        storage.update_nodes([node])
        assert storage.get_nodes(run.id) == [node]


class TestCache:
    def test_insert_or_ignore_and_chunked_lookup(self, storage: Storage) -> None:
        entries = [make_entry(f"k{i:05d}", created=float(i)) for i in range(1200)]
        storage.record_cache(entries[:700])
        storage.record_cache(entries[500:])  # overlaps: ignored, not an error
        keys = [e.key for e in entries]
        found = storage.lookup_cache([*keys, "missing", keys[0]])
        assert found == {e.key: e for e in entries}
        assert storage.lookup_cache([]) == {}

        loser = make_entry("k00001", run_id="l" * 32, outputs={"y": dataset(7)})
        storage.record_cache([loser])
        assert storage.lookup_cache(["k00001"])["k00001"] == entries[1]  # first writer wins
        assert storage.referenced_digests() == set()  # the loser's outputs are not kept

    def test_entries_for_op_newest_first(self, storage: Storage) -> None:
        storage.record_cache(
            [make_entry(f"k{i}", created=float(i), op="A" if i % 2 else "B") for i in range(10)]
        )
        assert [e.key for e in storage.cache_entries_for_op("A", limit=3)] == ["k9", "k7", "k5"]
        assert len(storage.cache_entries_for_op("B")) == 5
        assert storage.cache_entries_for_op("C") == []


class TestArtifacts:
    def test_references_follow_outputs(self, storage: Storage) -> None:
        run = make_run(1)
        node = make_node(run, "n", 0)
        storage.create_runs([run], [node])
        outputs = {
            "a": dataset(1),
            "b": {"type": "list(dataset)", "value": [digest(2), "/data/external.csv"]},
            "c": {"type": "map(string, dataset)", "value": {"k": digest(3)}},
            "d": {"type": "dataset", "value": "file:///not/a/digest"},
            "e": {"type": "double", "value": 1.0},
        }
        storage.update_nodes([dataclasses.replace(node, outputs=json.dumps(outputs))])
        assert storage.referenced_digests() == {digest(1), digest(2), digest(3)}
        # New outputs replace the node's old references.
        storage.update_nodes([dataclasses.replace(node, outputs=json.dumps({"a": dataset(4)}))])
        assert storage.referenced_digests() == {digest(4)}
        storage.record_cache([make_entry("k", outputs={"a": dataset(4), "b": dataset(5)})])
        assert storage.referenced_digests() == {digest(4), digest(5)}
        storage.update_nodes([dataclasses.replace(node, outputs=None, state="pending")])
        assert storage.referenced_digests() == {digest(4), digest(5)}
        # Cache references outlive the run that produced them.
        storage.delete_run(run.id)
        assert storage.referenced_digests() == {digest(4), digest(5)}
        assert storage.delete_cache_entries(["k", "missing"]) == 1
        assert storage.referenced_digests() == set()
        assert storage.lookup_cache(["k"]) == {}

    def test_records(self, storage: Storage) -> None:
        storage.record_artifacts([(digest(1), 10), (digest(2), 20)])
        storage.record_artifacts([(digest(1), 99)])  # known digest: ignored
        assert storage.artifact_records() == {digest(1): 10, digest(2): 20}
        storage.delete_artifact_records([digest(1), digest(3)])
        assert storage.artifact_records() == {digest(2): 20}
        storage.record_artifacts([])
        storage.delete_artifact_records([])


class TestLogs:
    def test_order_filters_limit_since(self, storage: Storage) -> None:
        run = make_run(1)
        storage.create_runs([run], [])
        lines = [
            LogLine(
                run.id,
                "a" if i % 3 else "b",
                float(i // 2),
                "stderr" if i % 4 == 0 else "stdout",
                f"line {i}",
            )
            for i in range(12)
        ]
        storage.append_logs(lines[6:])
        storage.append_logs(lines[:6])  # appended out of order: read back by time
        storage.append_logs([])
        every = storage.get_logs(run.id, None)
        assert [x.ts for x in every] == sorted(x.ts for x in lines)
        a_lines = [x for x in lines if x.node == "a"]
        assert sorted(storage.get_logs(run.id, "a"), key=lambda x: x.line) == sorted(
            a_lines, key=lambda x: x.line
        )
        out = storage.get_logs(run.id, "a", streams=("stdout",))
        assert all(x.stream == "stdout" and x.node == "a" for x in out)
        last = storage.get_logs(run.id, None, limit=3)
        assert [x.ts for x in last] == [4.0, 5.0, 5.0]
        assert [x.ts for x in storage.get_logs(run.id, None, since=4.0)] == [5.0, 5.0]
        assert storage.get_logs(run.id, None, since=4.0, limit=1)[0].ts == 5.0
        assert storage.get_logs(run.id, "zzz") == []
        assert storage.get_logs("missing", None) == []


# -- SQL backends only --------------------------------------------------------------------------


def test_columns_follow_record_fields() -> None:
    """SqlStorage converts rows positionally; this pins the column order to the records."""
    assert tuple(f.name for f in dataclasses.fields(RunRecord)) == RUN_COLUMNS
    assert tuple(f.name for f in dataclasses.fields(NodeRecord)) == NODE_COLUMNS
    assert tuple(f.name for f in dataclasses.fields(CacheEntry)) == CACHE_COLUMNS


def test_dataset_digests_tolerates_junk() -> None:
    assert dataset_digests(None) == set()
    assert dataset_digests("not json") == set()
    assert dataset_digests(json.dumps([{"type": "dataset", "value": digest(1)}])) == {digest(1)}
    assert dataset_digests(
        json.dumps({"m": {"type": "map(dataset, long)", "value": {digest(2): 1}}})
    ) == {digest(2)}


class TestSqlite:
    def test_migration_matches_schema(self, tmp_path: Path) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        storage = open_storage(f"sqlite:///{tmp_path / 'a.db'}")
        assert current_revision(storage.engine) == head_revision()

        def ours(name: str | None, type_: str, parent: object) -> bool:
            return not (
                type_ == "table" and name is not None and name.startswith(("runs_fts", "alembic"))
            )

        with storage.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": ours, "compare_type": True}
            )
            assert compare_metadata(context, schema.metadata) == []
        assert storage.has_fts
        storage.close()

    def test_home_at_an_older_revision_is_upgraded_on_open(self, tmp_path: Path) -> None:
        """A home created by an earlier Accio is migrated when opened and gains the new index."""
        from alembic import command

        from accio.storage.sqlite import alembic_config, create_engine

        url = f"sqlite:///{tmp_path / 'old.db'}"
        engine = create_engine(url)
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        engine.dispose()
        assert current_revision(create_engine(url)) == "0001"
        storage = open_storage(url)
        assert current_revision(storage.engine) == head_revision()
        with storage.engine.connect() as conn:
            indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("runs")}
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE parent_id IS NULL"
                " ORDER BY created DESC, id LIMIT 50"
            ).fetchall()
        assert "ix_runs_parent_created" in indexes
        # The runs list walks the index: no sort of every top-level run per request.
        assert any("ix_runs_parent_created" in str(row) for row in plan)
        assert not any("USE TEMP B-TREE FOR ORDER BY" in str(row) for row in plan)
        storage.close()

    def test_search_reads_the_matches_not_every_top_level_run(self, tmp_path: Path) -> None:
        """With many top-level runs and few matches, SQLite starts from the FTS matches."""
        storage = open_storage(f"sqlite:///{tmp_path / 'a.db'}")
        runs = [make_run(i, name="rare" if i % 500 == 0 else "plain") for i in range(2000)]
        storage.create_runs(runs, [])
        f = RunsFilter(text="rare", limit=50)
        assert ids(storage.list_runs(f)) == [runs[i].id for i in (1500, 1000, 500, 0)]
        assert storage.count_runs(f) == 4
        query = (
            sa.select(schema.runs)
            .where(*storage._run_conditions(f))
            .order_by(schema.runs.c.created.desc())
        )
        sql = str(query.compile(storage.engine, compile_kwargs={"literal_binds": True}))
        with storage.engine.connect() as conn:
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        assert "runs_fts" in plan and "ix_runs_parent_created" not in plan, plan
        storage.close()

    def test_pragmas_and_fresh_home(self, tmp_path: Path) -> None:
        settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "new" / "home")})
        storage = open_storage(settings)
        assert (tmp_path / "new" / "home" / "accio.db").exists()
        with storage.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        storage.close()

    def test_in_memory_url(self) -> None:
        storage = open_storage("sqlite://")
        run = make_run(1)
        storage.create_runs([run], [])
        assert storage.get_run(run.id) == run
        storage.close()

    def test_open_from_threads_at_once(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def work(k: int) -> None:
            try:
                barrier.wait()
                storage = open_storage(url)
                for i in range(5):
                    run = make_run(k * 100 + i)
                    storage.create_runs([run], [make_node(run, "n", 0)])
                    storage.update_nodes([make_node(run, "n", 0, state="success")])
                    storage.list_runs(RunsFilter())
                storage.close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        storage = open_storage(url)
        assert storage.count_runs(RunsFilter()) == 20
        storage.close()

    def test_open_from_processes_at_once(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        go = tmp_path / "go"
        # Each process imports everything, says it is ready, then waits for "go" so that all
        # of them open (and migrate) the fresh database at the same moment.
        script = textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            from accio.storage.sqlite import open_storage
            from accio.storage.records import RunRecord
            k = int(sys.argv[1])
            Path({str(tmp_path)!r}, f"ready-{{k}}").touch()
            while not Path({str(go)!r}).exists():
                time.sleep(0.005)
            storage = open_storage({url!r})
            for i in range(30):
                run = RunRecord(f"{{k:016x}}{{i:016x}}", None, "wf", "v1", None, None, (), "ada",
                                float(i), 1, "{{}}", 0, None, "pending", None, None, 0)
                storage.create_runs([run], [])
            storage.close()
            """
        )
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(k)], stderr=subprocess.PIPE)
            for k in range(3)
        ]
        deadline = time.time() + 60
        while len(list(tmp_path.glob("ready-*"))) < 3 and time.time() < deadline:
            time.sleep(0.01)
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
        storage = open_storage(url)
        assert storage.count_runs(RunsFilter()) == 90
        storage.close()

    def test_writes_wait_for_each_other(self, tmp_path: Path) -> None:
        """A write transaction holding the lock makes another writer wait, not fail."""
        url = f"sqlite:///{tmp_path / 'a.db'}"
        first, second = open_storage(url), open_storage(url)
        run = make_run(1)
        first.create_runs([run], [])
        done = threading.Event()

        def hold() -> None:
            with first.engine.execution_options(accio_write=True).begin() as conn:
                conn.execute(sa.update(schema.runs).values(name="held"))
                done.wait(0.3)

        holder = threading.Thread(target=hold)
        holder.start()
        time.sleep(0.05)
        second.update_metadata(run.id, name="after")
        done.set()
        holder.join()
        assert second.get_run(run.id).name == "after"
        first.close()
        second.close()


class TestSettings:
    def test_defaults_and_overrides(self, tmp_path: Path) -> None:
        env = {
            "ACCIO_HOME": str(tmp_path),
            "ACCIO_USER": "Ada <ada@example.org>",
            "ACCIO_CPUS": "3",
            "ACCIO_MEMORY_MB": "2048",
        }
        s = Settings.from_env(env)
        assert s.home == tmp_path
        assert s.database_url == f"sqlite:///{tmp_path}/accio.db"
        assert s.artifacts_dir == tmp_path / "artifacts"
        assert (s.user, s.cpus, s.memory_mb) == ("Ada <ada@example.org>", 3, 2048)
        other = Settings.from_env({"ACCIO_HOME": str(tmp_path), "ACCIO_DATABASE_URL": "sqlite://"})
        assert other.database_url == "sqlite://"
        assert other.cpus >= 1 and other.memory_mb >= 1 and other.user

    def test_default_home(self) -> None:
        assert Settings.from_env({}).home == Path("~/.accio").expanduser()

    @pytest.mark.parametrize("value", ["zero", "0", "-2", "1.5"])
    def test_bad_numbers(self, value: str) -> None:
        with pytest.raises(UsageError, match="ACCIO_CPUS"):
            Settings.from_env({"ACCIO_CPUS": value})


def test_shipped_head_revision_constant_matches_the_migrations() -> None:
    from accio.storage.sqlite import HEAD_REVISION, head_revision

    assert head_revision() == HEAD_REVISION


def test_parameter_search_without_fts5(tmp_path: Path) -> None:
    """The generic SQL path (PostgreSQL's, and SQLite built without FTS5) finds parameter
    values and child names as well."""
    backend = open_storage(f"sqlite:///{tmp_path / 'plain.db'}")
    backend._fts = False  # as on a build without FTS5
    try:
        TestRuns().test_text_search_finds_parameter_values_and_child_names(backend)
    finally:
        backend.close()
