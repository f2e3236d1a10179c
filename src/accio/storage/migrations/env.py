"""Alembic environment: migrate the connection that ``open_storage`` hands over.

There is no ``alembic.ini`` and no URL here: :func:`accio.storage.sqlite.upgrade` builds the
alembic ``Config`` in code and passes an open connection as ``config.attributes["connection"]``,
so the same scripts migrate SQLite and PostgreSQL and run inside the caller's lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from accio.errors import AccioError
from accio.storage.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise AccioError(
            "Accio migrations need an open connection in config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise AccioError("Accio migrations run online only (open_storage applies them)")
run_migrations_online()
