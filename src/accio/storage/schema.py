"""SQLAlchemy Core tables of the run database.

The migrations in ``migrations/versions`` create exactly these tables; a test compares them.
Times are epoch seconds (``Float``: double precision on every dialect). Seeds use ``BigInteger``
(63 bits), which SQLite stores as its native 64-bit INTEGER.

``runs_fts`` is not here: it is an SQLite FTS5 virtual table that only the migration creates
(see :data:`runs_fts`).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

BigInt = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("version", sa.String, primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("name", sa.String),
    sa.Column("owner", sa.String),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Index("ix_workflows_active_created", "active", "created"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("parent_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE")),
    sa.Column("workflow_id", sa.String, nullable=False),
    sa.Column("workflow_version", sa.String, nullable=False),
    sa.Column("name", sa.String),
    sa.Column("notes", sa.Text),
    # Tags are denormalised as a JSON list so reading a run needs no join; ``run_tags`` is
    # the index used for filtering.
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("seed", BigInt, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("repeat_index", sa.Integer, nullable=False),
    sa.Column("child_index", sa.Integer),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("completed", sa.Float),
    sa.Column("n_children", sa.Integer, nullable=False),
    sa.Column("progress", sa.Float, nullable=False),
    # JSON list of node names re-executed whatever the cache holds ("*": all); null: none.
    sa.Column("force", sa.Text),
    sa.Index("ix_runs_parent_child", "parent_id", "child_index"),
    sa.Index("ix_runs_created", "created"),
    sa.Index("ix_runs_parent_created", "parent_id", "created"),
    sa.Index("ix_runs_workflow", "workflow_id"),
    sa.Index("ix_runs_owner", "owner"),
    sa.Index("ix_runs_state", "state"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String, primary_key=True),
    sa.Index("ix_run_tags_tag", "tag"),
)

nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("op", sa.String, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("cache_key", sa.String),
    sa.Column("seed", BigInt),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("queued_at", sa.Float),
    sa.Column("started", sa.Float),
    sa.Column("completed", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("outputs", sa.Text),
    sa.Column("cache_source", sa.String),
    sa.Column("position", sa.Integer, nullable=False),
    # Where the node's last execution ran ("slurm job 1234 on HOST", "HOST pid PID"); "": never.
    sa.Column("ran_on", sa.String, nullable=False, server_default=""),
    sa.Index("ix_nodes_state", "state"),
)

# No foreign key to runs: an entry outlives the run that produced it.
cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("op", sa.String, nullable=False),
    sa.Column("op_version", sa.String, nullable=False),
    sa.Column("code_hash", sa.String, nullable=False),
    sa.Column("components", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("node", sa.String, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Index("ix_cache_entries_op_created", "op", "created"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("digest", sa.String, primary_key=True),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

# Who refers to an artifact. ``kind`` is "node" (a node's outputs; deleted with the run) or
# "cache" (a cache entry's outputs; ``run_id``/``node`` are the entry's producer). No foreign
# key, because cache references must survive the run.
artifact_refs = sa.Table(
    "artifact_refs",
    metadata,
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("node", sa.String, primary_key=True),
    sa.Column("digest", sa.String, primary_key=True),
    sa.Index("ix_artifact_refs_digest", "digest"),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("node", sa.String, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("stream", sa.String, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
    sa.Index("ix_logs_run_node_ts", "run_id", "node", "ts"),
)

#: The SQLite FTS5 index of top-level runs (created by the migration, SQLite only). Declared
#: as a lightweight table so queries can name it; it is not part of :data:`metadata`.
runs_fts = sa.table(
    "runs_fts",
    sa.column("run_id", sa.String),
    sa.column("name", sa.String),
    sa.column("notes", sa.String),
    sa.column("tags", sa.String),
    sa.column("params", sa.String),  # name=value of its parameters, its children's names
)

RUNS_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS runs_fts USING fts5("
    "run_id UNINDEXED, name, notes, tags, params, tokenize = 'unicode61 remove_diacritics 2')"
)

#: Accounts (only used when the server requires authentication, ``ACCIO_AUTH=on``).
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

#: API tokens: only the SHA-256 hex digest of a token is stored, never the token.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user", sa.String, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    sa.Column("hash", sa.String, nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("revoked", sa.Float),
)

#: Web UI sessions, one per sign-in: signing out sets ``ended``, so the cookie is dead on the
#: server too (expired rows are deleted when a session starts).
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user", sa.String, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "token_id", sa.String, sa.ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("ended", sa.Float),
)
