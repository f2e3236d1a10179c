"""Alembic migrations of the run database, shipped in the package and run by ``open_storage``."""
