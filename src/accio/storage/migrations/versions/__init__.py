"""Migration scripts, one per schema revision (alembic skips this file)."""
