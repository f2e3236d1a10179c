"""The storage contract: everything the engine, client and server persist goes through it.

Backends: :class:`accio.storage.sql.SqlStorage` (SQLite, PostgreSQL) and
:class:`accio.storage.memory.MemoryStorage` (tests). One contract suite
(``tests/accio/storage/test_storage_contract.py``) runs against each of them.

Writes take sequences so that a sweep of 10^4 children is one transaction and a handful of
batched statements, not 10^4 round trips.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Self

from accio.errors import RuntimeFailure
from accio.states import NodeState, RunState
from accio.storage.accounts import AccountsApi
from accio.storage.records import (
    CacheEntry,
    LogLine,
    LogStream,
    NodeRecord,
    RunRecord,
    RunsFilter,
    WorkflowRecord,
    dataset_digests,
    search_words,
)


def params_terms(params_json: str) -> list[str]:
    """``name=value`` of a run's parameters (paths also by their last part), as searched."""
    try:
        params = json.loads(params_json or "{}")
    except ValueError:
        return []
    terms: list[str] = []
    for name, typed in params.items() if isinstance(params, dict) else ():
        value = typed.get("value") if isinstance(typed, dict) else typed
        if isinstance(value, dict | list):
            continue
        text = str(value)
        terms.append(f"{name}={text}")
        if isinstance(value, str) and "/" in text.rstrip("/"):
            terms.append(f"{name}={text.rstrip('/').rsplit('/', 1)[1]}")
    return terms


def search_text(run: RunRecord, children: Sequence[RunRecord]) -> str:
    """What a top-level run is found by besides its name, notes and tags: its parameters as
    ``name=value`` and, for a sweep, its children's names and parameters (distinct)."""
    parts: dict[str, None] = dict.fromkeys(params_terms(run.params))
    for child in children:
        if child.name:
            parts[child.name] = None
        parts.update(dict.fromkeys(params_terms(child.params)))
    return " ; ".join(parts)


def search_phrases(text: str | None) -> list[list[str]]:
    """The user's text as phrases: each whitespace-separated term is its words (letters and
    digits, :func:`search_words`), matched consecutively, the last one as a prefix:
    ``epsilon=0.01`` is the phrase ``epsilon 0 01``, ``geo`` any word starting with ``geo``."""
    return [words for term in (text or "").split() if (words := search_words(term))]


def phrase_in(phrase: Sequence[str], words: Sequence[str]) -> bool:
    """``phrase`` occurs in ``words`` consecutively, its last word as a prefix (FTS5's
    ``"w1 w2"*``)."""
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if all(words[i + k] == phrase[k] for k in range(n - 1)) and words[i + n - 1].startswith(
            phrase[-1]
        ):
            return True
    return False


#: ``(run id, state, started, completed, progress)`` as taken by :meth:`Storage.set_run_states`.
RunStateUpdate = tuple[str, RunState, float | None, float | None, float]


class StorageError(RuntimeFailure):
    """The database refused a write (a conflicting id, a missing parent)."""


class RunExistsError(StorageError):
    """A run id given to ``create_runs`` is already taken, or a node is duplicated."""


class Storage(AccountsApi, ABC):
    """Persistent state of workflows, runs, nodes, the cache index, artifacts and logs."""

    # -- workflows ------------------------------------------------------------------------

    @abstractmethod
    def push_workflow(self, rec: WorkflowRecord) -> bool:
        """Store a workflow version and make it the active one.

        Returns
        -------
        bool
            True if ``(id, version)`` is new. Pushing a known version again only re-activates
            it (its stored definition is kept) and returns False.
        """

    @abstractmethod
    def get_workflow(self, id: str, version: str | None = None) -> WorkflowRecord:
        """One workflow version; ``version=None`` means the active one. Raises NotFoundError."""

    @abstractmethod
    def list_workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first; active versions only unless ``include_inactive``.

        ``text`` is a case-insensitive substring of the id or the name.
        """

    @abstractmethod
    def workflow_versions(self, id: str) -> list[WorkflowRecord]:
        """Every pushed version of a workflow, newest first (empty if the id is unknown)."""

    # -- runs -----------------------------------------------------------------------------

    @abstractmethod
    def create_runs(self, runs: Sequence[RunRecord], nodes: Sequence[NodeRecord]) -> None:
        """Insert runs (parents before or with their children) and their nodes atomically.

        Raises
        ------
        RunExistsError
            A run id, or a ``(run, node)`` pair, already exists; nothing is written.
        """

    @abstractmethod
    def get_run(self, id: str) -> RunRecord:
        """One run. Raises NotFoundError."""

    @abstractmethod
    def get_runs(self, ids: Sequence[str]) -> list[RunRecord]:
        """The runs among ``ids`` that exist, in the order of ``ids``."""

    @abstractmethod
    def list_runs(self, f: RunsFilter) -> list[RunRecord]:
        """Runs matching ``f``, newest first (``created`` descending, then id)."""

    @abstractmethod
    def count_runs(self, f: RunsFilter) -> int:
        """How many runs match ``f``, ignoring its limit and offset."""

    @abstractmethod
    def children(
        self, parent_id: str, limit: int | None = None, offset: int = 0
    ) -> list[RunRecord]:
        """Children of a sweep parent in ``child_index`` order."""

    @abstractmethod
    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of runs (sweep children included) starting with ``prefix``, sorted, at most
        ``limit``: the CLI accepts any unique prefix of the ids it prints."""

    @abstractmethod
    def child_state_counts(self, parent_id: str) -> dict[str, int]:
        """``{run state: children in it}`` of a sweep parent (empty for other runs): one
        aggregate, so a page about a 10^4-child sweep does not read 10^4 rows."""

    @abstractmethod
    def child_node_counts(self, parent_id: str) -> dict[str, dict[str, int]]:
        """``{node name: {node state: children in which the node is in it}}`` of a parent."""

    @abstractmethod
    def update_metadata(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        """Edit name, notes or tags (None = unchanged) and return the edited run.

        Metadata belongs to the sweep, so a child's id edits its parent, which is returned.
        Raises NotFoundError.
        """

    @abstractmethod
    def set_run_states(self, updates: Sequence[RunStateUpdate]) -> None:
        """Set ``(state, started, completed, progress)`` of many runs; values are written as is."""

    @abstractmethod
    def delete_run(self, id: str) -> list[str]:
        """Delete a run with its children, their nodes, tags, logs and artifact references.

        Cache entries stay: their outputs are still valid. Returns the deleted run ids
        (the run first). Raises NotFoundError.
        """

    @abstractmethod
    def unfinished_runs(self) -> list[RunRecord]:
        """Pending or running runs that execute nodes (not sweep parents), oldest first."""

    # -- nodes ----------------------------------------------------------------------------

    @abstractmethod
    def get_nodes(self, run_id: str) -> list[NodeRecord]:
        """Nodes of a run in topological (``position``) order."""

    def nodes_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[NodeRecord]]:
        """Nodes of many runs at once (a sweep's results), each list in position order."""
        return {run_id: self.get_nodes(run_id) for run_id in run_ids}

    def started_nodes_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[NodeRecord]]:
        """Only the nodes past ``pending`` of many runs: what a resumed scheduler must restore
        for runs whose own (coalesced) state was not written before a crash."""
        return {
            run_id: [n for n in nodes if n.state != "pending"]
            for run_id, nodes in self.nodes_of_runs(run_ids).items()
        }

    @abstractmethod
    def get_node(self, run_id: str, name: str) -> NodeRecord:
        """One node. Raises NotFoundError."""

    @abstractmethod
    def update_nodes(self, nodes: Sequence[NodeRecord]) -> None:
        """Insert or replace nodes by ``(run_id, name)`` in one transaction.

        Also records which artifacts the nodes' outputs refer to, for garbage collection.
        """

    @abstractmethod
    def nodes_in_states(self, states: Sequence[NodeState]) -> list[NodeRecord]:
        """Nodes in any of ``states`` (to resume after a crash).

        Order: queued first by ``queued_at``, then the rest by run creation and position.
        """

    @abstractmethod
    def node_state_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """``{run_id: {state: count}}``; runs without nodes are absent."""

    # -- cache ----------------------------------------------------------------------------

    @abstractmethod
    def lookup_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The cache entries among ``keys`` (missing keys are absent)."""

    @abstractmethod
    def record_cache(self, entries: Sequence[CacheEntry], replace: bool = False) -> None:
        """Insert entries; a key already present is kept (the first writer wins), or replaced
        with ``replace`` (a forced re-execution)."""

    @abstractmethod
    def cache_entries_for_op(self, op: str, limit: int = 200) -> list[CacheEntry]:
        """Latest entries of an operator, newest first, so ``explain`` finds the closest one."""

    @abstractmethod
    def delete_cache_entries(self, keys: Sequence[str]) -> int:
        """Forget cache entries (their artifacts become collectable); returns how many."""

    @abstractmethod
    def cache_entries_with_digests(self, digests: Sequence[str]) -> list[CacheEntry]:
        """Cache entries whose outputs refer to any of ``digests`` (repair), sorted by key."""

    #: Set by the runtime (:func:`accio.cache.verify.guard_cache_hits`): the digests, among
    #: those given, whose artifacts may be reused unread. A hit referring to another one is a
    #: miss and its entry is dropped, so the producer runs again.
    artifact_guard: Callable[[set[str]], set[str]] | None = None

    def _guarded(self, found: dict[str, CacheEntry]) -> dict[str, CacheEntry]:
        """``found`` without (and forgetting) entries whose artifacts the guard rejects."""
        guard = self.artifact_guard
        if guard is None or not found:
            return found
        needs = {key: dataset_digests(e.outputs) for key, e in found.items()}
        digests = set().union(*needs.values())
        bad = digests - guard(digests) if digests else set()
        if not bad:
            return found
        stale = [key for key, used in needs.items() if used & bad]
        self.delete_cache_entries(stale)
        return {key: e for key, e in found.items() if key not in stale}

    # -- retention (``accio gc --keep-last/--older-than``) -----------------------------------

    @abstractmethod
    def cache_index(self) -> list[tuple[str, str, str]]:
        """``(key, producer run id, producer node)`` of every cache entry."""

    @abstractmethod
    def node_cache_keys(self) -> list[tuple[str, str]]:
        """``(run id, cache key)`` of every node that has a key: what runs still need."""

    @abstractmethod
    def artifact_references(self) -> list[tuple[str, str, str, str]]:
        """``(kind, run id, node, digest)`` rows: who keeps which artifact ("node"/"cache")."""

    # -- artifacts ------------------------------------------------------------------------

    @abstractmethod
    def record_artifacts(self, items: Sequence[tuple[str, int]]) -> None:
        """Record ``(digest, size in bytes)`` of stored artifacts; known digests are ignored."""

    @abstractmethod
    def artifact_records(self) -> dict[str, int]:
        """Every recorded artifact: ``{digest: size in bytes}``."""

    @abstractmethod
    def referenced_digests(self) -> set[str]:
        """Digests referenced by any node's or cache entry's outputs (kept by gc)."""

    @abstractmethod
    def delete_artifact_records(self, digests: Sequence[str]) -> None:
        """Forget artifact records (after their files were deleted)."""

    # -- logs -----------------------------------------------------------------------------

    @abstractmethod
    def append_logs(self, lines: Sequence[LogLine]) -> None:
        """Append log lines."""

    @abstractmethod
    def get_logs(
        self,
        run_id: str,
        node: str | None,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        """Log lines in time order; ``node=None`` means every node of the run.

        ``limit`` keeps the last N lines; ``since`` keeps lines with ``ts > since``, so a
        follower can pass the last timestamp it saw.
        """

    # -- lifecycle ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes made inside into one transaction where the backend can."""
        yield

    @abstractmethod
    def close(self) -> None:
        """Release connections; the storage must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
