"""The storage's change token: it moves with every commit of any connection (another process's
too) and stays put while nothing is written, which is what lets the web server keep a page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accio.storage import schema
from accio.storage.records import RunsFilter, WorkflowRecord
from accio.storage.sql import SqlStorage
from accio.storage.sqlite import open_storage

POSTGRES_URL = os.environ.get("ACCIO_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStorage, SqlStorage]]:
    """Two storages (two connection pools, as two processes have) on one database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'accio.db'}"
    else:
        if not POSTGRES_URL:
            if os.environ.get("CI") == "true":
                pytest.fail("CI=true needs ACCIO_TEST_POSTGRES_URL")
            pytest.skip("set ACCIO_TEST_POSTGRES_URL to test PostgreSQL")
        url = POSTGRES_URL
    first, second = open_storage(url), open_storage(url)
    if request.param == "postgres":
        names = ", ".join(t.name for t in schema.metadata.sorted_tables)
        with first.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} CASCADE")
    yield first, second
    first.close()
    second.close()


def test_moves_with_every_commit_and_only_then(two: tuple[SqlStorage, SqlStorage]) -> None:
    reader, writer = two
    token = reader.change_token()
    assert token is not None
    reader.list_workflows()  # reads change nothing
    reader.list_runs(RunsFilter(limit=5))
    assert reader.change_token() == token
    for n in range(3):
        record = WorkflowRecord(f"wf{n}", "v1", "{}", None, "ada", 1.0 + n, True)
        writer.push_workflow(record)  # another connection pool commits
        new = reader.change_token()
        assert new != token, n
        token = new
        assert reader.change_token() == token
    reader.push_workflow(WorkflowRecord("mine", "v1", "{}", None, "ada", 9.0, True))  # its own
    assert reader.change_token() != token


def test_an_in_memory_database_has_none() -> None:
    storage = open_storage("sqlite://")
    try:
        assert storage.change_token() is None
    finally:
        storage.close()


@pytest.mark.parametrize("two", ["postgres"], indirect=True)  # SQLite reads keep a snapshot
def test_postgresql_reads_open_no_transaction(two: tuple[SqlStorage, SqlStorage]) -> None:
    """A read on PostgreSQL is its statement alone: no BEGIN before it, no ROLLBACK after it
    (three round trips instead of one; the web server's pages are made of such reads)."""
    import psycopg.pq
    import sqlalchemy as sa

    reader, writer = two
    writer.push_workflow(WorkflowRecord("wf", "v1", "{}", None, "ada", 1.0, True))
    after: list[str] = []  # the server's transaction status after each statement

    def status(conn: sa.Connection, *_: object) -> None:
        dbapi: Any = conn.connection.dbapi_connection
        after.append(psycopg.pq.TransactionStatus(dbapi.info.transaction_status).name)

    sa.event.listen(reader.engine, "after_cursor_execute", status)
    try:
        assert [w.id for w in reader.list_workflows()] == ["wf"]
        assert reader.get_user("nobody") is None
        assert after == ["IDLE"] * 2
        reader.change_token()  # on a connection of its own, outside the pool: autocommit too
        assert reader._pg_version_conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        after.clear()
        reader.push_workflow(WorkflowRecord("w2", "v1", "{}", None, "ada", 2.0, True))
        assert "INTRANS" in after  # a write is one transaction
    finally:
        sa.event.remove(reader.engine, "after_cursor_execute", status)


@pytest.mark.parametrize("two", ["postgres"], indirect=True)
def test_the_token_survives_a_dropped_connection(two: tuple[SqlStorage, SqlStorage]) -> None:
    """PostgreSQL restarted, or an idle connection cut: the next token comes on a new one."""
    reader, writer = two
    token = reader.change_token()
    pid = reader._pg_version_conn.info.backend_pid
    with writer.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    assert reader.change_token() == token  # nothing committed meanwhile
    assert reader._pg_version_conn.info.backend_pid != pid
    writer.push_workflow(WorkflowRecord("after", "v1", "{}", None, "ada", 3.0, True))
    assert reader.change_token() != token
