"""REST/``--json`` models of run outcomes and retention (re-exported by
:mod:`accio.client.models`, which holds the other models)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RunEndOut(BaseModel):
    """How one run ended (``accio wait``, ``submit --wait``): its state and, if it failed, why."""

    id: str
    state: str
    node_progress: dict[str, int] = Field(default_factory=dict)
    failure_reason: str | None = None


class WaitOut(BaseModel):
    """``accio wait --json``: every awaited run; ``success`` when all of them succeeded."""

    runs: list[RunEndOut]
    success: bool


class RetentionOut(BaseModel):
    """``accio gc --keep-last N | --older-than D``: what was deleted (or would be, ``dry_run``).

    ``runs`` are the deleted top-level runs; ``runs_deleted`` counts them with their children;
    ``files``/``bytes`` are the artifact files collected (with ``dry_run``: those that would be).
    """

    dry_run: bool
    runs: list[str] = Field(default_factory=list)
    runs_deleted: int = 0
    cache_entries: int = 0
    files: int = 0
    bytes: int = 0


class ExportOut(BaseModel):
    """``accio export --json``: what was written where, and the datasets left uncopied."""

    directory: str
    files: list[str]
    runs: int
    rows: int
    warnings: list[str] = Field(default_factory=list)
    dataset_digests: list[str] = Field(default_factory=list)


class GcOut(BaseModel):
    """``accio gc --json``: files and bytes freed."""

    files: int
    bytes: int
