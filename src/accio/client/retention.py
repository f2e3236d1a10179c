"""Retention of a local home: delete old top-level runs, then what only they needed.

``accio gc --keep-last N | --older-than D``: finished top-level runs beyond the N newest or
older than D go with their children; then the cache entries no remaining node has as its key,
then the artifact files no remaining node or entry references. ``dry_run`` computes the same
counts without deleting anything (:func:`accio.cache.gc.plan_retention`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from accio.cache.gc import DEFAULT_MIN_AGE_S, collect, plan_retention
from accio.client.runs_out import RetentionOut
from accio.errors import UsageError
from accio.states import TERMINAL_RUN_STATES
from accio.storage.records import RunRecord, RunsFilter

if TYPE_CHECKING:
    from accio.client.local import LocalClient


def retain(
    client: LocalClient,
    *,
    keep_last: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
) -> RetentionOut:
    """Apply (or with ``dry_run`` only count) a retention policy on the client's home."""
    if keep_last is None and older_than is None:
        raise UsageError("a retention policy needs keep_last or older_than")
    storage = client.storage
    top = storage.list_runs(RunsFilter(limit=max(1, storage.count_runs(RunsFilter()))))
    doomed = retention_victims(top, keep_last, older_than, time.time())
    family = [i for r in doomed for i in (r.id, *(c.id for c in storage.children(r.id)))]
    plan = plan_retention(storage, family)
    report = RetentionOut(
        dry_run=dry_run,
        runs=[r.id for r in doomed],
        runs_deleted=len(family),
        cache_entries=len(plan.cache_keys),
        files=len(plan.artifacts),
        bytes=plan.bytes,
    )
    if dry_run:
        return report
    if doomed:
        client.delete([r.id for r in doomed])
    report.cache_entries = storage.delete_cache_entries(plan.cache_keys)
    busy = client.scheduler_running()  # a node finishing now writes before it records
    done = collect(client.runtime.artifacts, storage, min_age_s=DEFAULT_MIN_AGE_S if busy else 0)
    report.files, report.bytes = done.files, done.bytes
    return report


def retention_victims(
    top: Sequence[RunRecord], keep_last: int | None, older_than: float | None, now: float
) -> list[RunRecord]:
    """Finished top-level runs (``top`` newest first) beyond the ``keep_last`` newest and/or
    created more than ``older_than`` seconds before ``now``."""
    victims = []
    for rank, run in enumerate(top):
        if run.state not in TERMINAL_RUN_STATES:
            continue
        beyond = keep_last is None or rank >= keep_last
        old = older_than is None or run.created < now - older_than
        if beyond and old:
            victims.append(run)
    return victims
