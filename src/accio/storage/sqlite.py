"""Open the run database: build the engine, then migrate it to the newest schema.

A fresh ``ACCIO_HOME`` just works: the directory and database are created on first use.
Several processes (the CLI, the scheduler, the server) may open the same database at once, so
the migration runs under a lock: ``fcntl.flock`` on ``<database dir>/.migrate.lock`` for SQLite
(``<home>/.migrate.lock`` with the default settings), a transaction-scoped advisory lock on
PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from accio.config import Settings
from accio.errors import AccioError
from accio.storage.sql import SqlStorage

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Seconds a connection waits for another writer before SQLite reports "database is locked".
BUSY_TIMEOUT_S = 30.0

#: Key of the PostgreSQL advisory lock that serialises migrations (any constant will do).
_PG_MIGRATION_LOCK = 0x616363696F  # "accio"


def open_storage(settings_or_url: Settings | str) -> SqlStorage:
    """Open (creating and migrating if needed) the database of ``settings`` or at a URL.

    With settings, the home and artifacts directories are created as well.
    """
    if isinstance(settings_or_url, Settings):
        settings_or_url.home.mkdir(parents=True, exist_ok=True)
        settings_or_url.artifacts_dir.mkdir(parents=True, exist_ok=True)
        url = sa.make_url(settings_or_url.database_url)
    else:
        url = sa.make_url(settings_or_url)
    engine = create_engine(url)
    try:
        upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return SqlStorage(engine)


def create_engine(url: sa.URL | str) -> Engine:
    """An engine for ``url``; for SQLite with WAL, foreign keys and ``BEGIN IMMEDIATE`` writes."""
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
    if path is None:
        # One shared connection, or every checkout would see a different empty database.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred
    # and comes too late for reads), see _on_sqlite_begin.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that read first and then
    # writes fails at once with SQLITE_BUSY when another process committed in between,
    # whereas BEGIN IMMEDIATE waits for the busy timeout.
    if conn.get_execution_options().get("accio_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _sqlite_path(url: sa.URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser().absolute()


if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic configuration built in code: the packaged scripts, no ini file."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision shipped with this version of Accio."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise AccioError("no database migrations found in the Accio package")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


#: The newest migration shipped (tests check it against alembic's head); lets a command open an
#: up-to-date database without importing alembic (a third of a CLI call's start-up).
HEAD_REVISION = "0007"


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:
        return None


def upgrade(engine: Engine) -> None:
    """Migrate the database to :func:`head_revision`, serialised across processes."""
    if _stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    head = head_revision()
    if current_revision(engine) == head:
        return
    with _migration_lock(engine), engine.execution_options(accio_write=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            lock = sa.literal(_PG_MIGRATION_LOCK, sa.BigInteger)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        # Re-check under the lock: another process may have migrated meanwhile.
        if MigrationContext.configure(conn).get_current_revision() != head:
            command.upgrade(alembic_config(conn), "head")


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    path = _sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    lock_path = path.parent / ".migrate.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
