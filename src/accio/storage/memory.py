"""MemoryStorage: the storage contract in dictionaries, for unit tests of the engine and client.

It follows the same contract suite as :class:`~accio.storage.sql.SqlStorage`, including the
atomicity of ``create_runs`` and the text-search semantics (word prefixes, top-level runs).
A lock makes it safe to share between the scheduler thread and test code.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from accio.errors import NotFoundError
from accio.states import UNFINISHED_RUN_STATES, NodeState
from accio.storage.accounts import MemoryAccounts
from accio.storage.base import (
    RunExistsError,
    RunStateUpdate,
    Storage,
    StorageError,
    phrase_in,
    search_phrases,
    search_text,
)
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

_Ref = tuple[str, str, str, str]  # (kind, run_id, node, digest), as in the artifact_refs table


class MemoryStorage(MemoryAccounts, Storage):
    """Everything in process memory; nothing survives :meth:`close`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._workflows: dict[tuple[str, str], WorkflowRecord] = {}
        self._runs: dict[str, RunRecord] = {}
        self._nodes: dict[str, dict[str, NodeRecord]] = {}  # run id -> node name -> node
        self._children: dict[str, list[str]] = {}  # parent id -> child ids
        self._cache: dict[str, CacheEntry] = {}
        self._artifacts: dict[str, int] = {}
        self._refs: set[_Ref] = set()
        self._logs: list[tuple[int, LogLine]] = []
        self._log_seq = 0

    # -- workflows ------------------------------------------------------------------------

    def push_workflow(self, rec: WorkflowRecord) -> bool:
        with self._lock:
            for key, other in self._workflows.items():
                if other.id == rec.id:
                    self._workflows[key] = dataclasses.replace(
                        other, active=other.version == rec.version
                    )
            if (rec.id, rec.version) in self._workflows:
                return False
            self._workflows[(rec.id, rec.version)] = dataclasses.replace(rec, active=True)
            return True

    def get_workflow(self, id: str, version: str | None = None) -> WorkflowRecord:
        with self._lock:
            if version is not None:
                found = self._workflows.get((id, version))
            else:
                active = [w for w in self._workflows.values() if w.id == id and w.active]
                found = max(active, key=lambda w: w.created) if active else None
        if found is None:
            what = f"{id}:{version}" if version is not None else id
            raise NotFoundError(f"no such workflow: {what}")
        return found

    def list_workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        needle = text.lower() if text else None
        with self._lock:
            found = [
                w
                for w in self._workflows.values()
                if (include_inactive or w.active)
                and (owner is None or w.owner == owner)
                and (
                    needle is None
                    or needle in w.id.lower()
                    or (w.name is not None and needle in w.name.lower())
                )
            ]
        found.sort(key=lambda w: (-w.created, w.id, w.version))
        return found[offset : offset + limit]

    def workflow_versions(self, id: str) -> list[WorkflowRecord]:
        with self._lock:
            found = [w for w in self._workflows.values() if w.id == id]
        return sorted(found, key=lambda w: (-w.created, w.version))

    # -- runs -----------------------------------------------------------------------------

    def create_runs(self, runs: Sequence[RunRecord], nodes: Sequence[NodeRecord]) -> None:
        with self._lock:
            ids = [r.id for r in runs]
            taken = [i for i in ids if i in self._runs]
            if taken:
                more = f" (and {len(taken) - 3} more)" if len(taken) > 3 else ""
                raise RunExistsError(f"run already exists: {', '.join(taken[:3])}{more}")
            if len(set(ids)) != len(ids):
                raise StorageError("the same run id was given twice")
            known = set(ids) | self._runs.keys()
            for r in runs:
                if r.parent_id is not None and r.parent_id not in known:
                    raise StorageError(f"parent run {r.parent_id} of {r.id} does not exist")
            node_keys = [(n.run_id, n.name) for n in nodes]
            if len(set(node_keys)) != len(node_keys) or any(
                name in self._nodes.get(run_id, ()) for run_id, name in node_keys
            ):
                raise StorageError("a node was given twice or already exists")
            for n in nodes:
                if n.run_id not in known:
                    raise StorageError(f"node {n.name} refers to unknown run {n.run_id}")
            for r in runs:
                unique = tuple(dict.fromkeys(r.tags))
                self._runs[r.id] = r if unique == r.tags else dataclasses.replace(r, tags=unique)
                if r.parent_id is not None:
                    self._children.setdefault(r.parent_id, []).append(r.id)
            for n in nodes:
                self._nodes.setdefault(n.run_id, {})[n.name] = n
                self._refs.update(_refs("node", n.run_id, n.name, n.outputs))

    def get_run(self, id: str) -> RunRecord:
        with self._lock:
            found = self._runs.get(id)
        if found is None:
            raise NotFoundError(f"no such run: {id}")
        return found

    def get_runs(self, ids: Sequence[str]) -> list[RunRecord]:
        with self._lock:
            return [self._runs[i] for i in dict.fromkeys(ids) if i in self._runs]

    def _matching(self, f: RunsFilter) -> list[RunRecord]:
        words = search_words(f.text)
        with self._lock:
            if f.parent_id is not None:
                candidates = [self._runs[i] for i in self._children.get(f.parent_id, ())]
            else:
                candidates = list(self._runs.values())
            found = [r for r in candidates if self._matches(r, f, words)]
        found.sort(key=lambda r: (-r.created, r.id))
        return found

    def _matches(self, r: RunRecord, f: RunsFilter, words: list[str]) -> bool:
        if f.parent_id is not None:
            if r.parent_id != f.parent_id:
                return False
        elif f.top_level_only and r.parent_id is not None:
            return False
        if f.workflow is not None and r.workflow_id != f.workflow:
            return False
        if f.owner is not None and r.owner != f.owner:
            return False
        if f.states and r.state not in f.states:
            return False
        if f.tags:
            # Tags belong to the top-level run; a child matches through its parent.
            holder = self._runs.get(r.parent_id) if r.parent_id is not None else r
            if holder is None or not set(f.tags) <= set(holder.tags):
                return False
        if words:
            if r.parent_id is not None:
                return False
            kids = [self._runs[i] for i in self._children.get(r.id, ())]
            columns = [r.name or "", r.notes or "", " ".join(r.tags), search_text(r, kids)]
            haystacks = [search_words(c) for c in columns]
            if not all(any(phrase_in(p, h) for h in haystacks) for p in search_phrases(f.text)):
                return False
        return True

    def list_runs(self, f: RunsFilter) -> list[RunRecord]:
        return self._matching(f)[f.offset : f.offset + f.limit]

    def count_runs(self, f: RunsFilter) -> int:
        return len(self._matching(f))

    def children(
        self, parent_id: str, limit: int | None = None, offset: int = 0
    ) -> list[RunRecord]:
        with self._lock:
            found = [self._runs[i] for i in self._children.get(parent_id, ())]
        found.sort(key=lambda r: (r.child_index if r.child_index is not None else -1, r.id))
        end = None if limit is None else offset + limit
        return found[offset:end]

    def run_ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        with self._lock:
            return sorted(i for i in self._runs if i.startswith(prefix))[:limit]

    def child_state_counts(self, parent_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for child in self.children(parent_id):
            counts[child.state] = counts.get(child.state, 0) + 1
        return counts

    def child_node_counts(self, parent_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for child in self.children(parent_id):
            for node in self.get_nodes(child.id):
                tally = out.setdefault(node.name, {})
                tally[node.state] = tally.get(node.state, 0) + 1
        return out

    def update_metadata(
        self,
        run_id: str,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunRecord:
        with self._lock:
            run = self.get_run(run_id)
            target = self._runs[run.parent_id] if run.parent_id is not None else run
            if name is not None:
                target = dataclasses.replace(target, name=name or None)
            if notes is not None:
                target = dataclasses.replace(target, notes=notes or None)
            if tags is not None:
                unique = tuple(dict.fromkeys(tags))
                target = dataclasses.replace(target, tags=unique)
                for child in self.children(target.id):
                    self._runs[child.id] = dataclasses.replace(child, tags=unique)
            self._runs[target.id] = target
            return target

    def set_run_states(self, updates: Sequence[RunStateUpdate]) -> None:
        with self._lock:
            for run_id, state, started, completed, progress in updates:
                if run_id in self._runs:
                    self._runs[run_id] = dataclasses.replace(
                        self._runs[run_id],
                        state=state,
                        started=started,
                        completed=completed,
                        progress=progress,
                    )

    def delete_run(self, id: str) -> list[str]:
        with self._lock:
            self.get_run(id)
            deleted = [id, *(c.id for c in self.children(id))]
            gone = set(deleted)
            for run_id in deleted:
                parent_id = self._runs.pop(run_id).parent_id
                self._nodes.pop(run_id, None)
                if parent_id is not None and parent_id not in gone:
                    self._children[parent_id].remove(run_id)
            self._children.pop(id, None)
            self._logs = [(i, x) for i, x in self._logs if x.run_id not in gone]
            self._refs = {r for r in self._refs if not (r[0] == "node" and r[1] in gone)}
            return deleted

    def unfinished_runs(self) -> list[RunRecord]:
        with self._lock:
            found = [
                r
                for r in self._runs.values()
                if r.state in UNFINISHED_RUN_STATES and r.n_children == 0
            ]
        return sorted(found, key=lambda r: (r.created, r.id))

    # -- nodes ----------------------------------------------------------------------------

    def get_nodes(self, run_id: str) -> list[NodeRecord]:
        with self._lock:
            found = list(self._nodes.get(run_id, {}).values())
        return sorted(found, key=lambda n: n.position)

    def get_node(self, run_id: str, name: str) -> NodeRecord:
        with self._lock:
            found = self._nodes.get(run_id, {}).get(name)
        if found is None:
            raise NotFoundError(f"no such node: {run_id}/{name}")
        return found

    def update_nodes(self, nodes: Sequence[NodeRecord]) -> None:
        with self._lock:
            for n in nodes:
                if n.run_id not in self._runs:
                    raise StorageError(f"node {n.name} refers to unknown run {n.run_id}")
            updated = {("node", n.run_id, n.name) for n in nodes}
            self._refs = {r for r in self._refs if r[:3] not in updated}
            for n in nodes:
                self._nodes.setdefault(n.run_id, {})[n.name] = n
            for n in {(n.run_id, n.name): n for n in nodes}.values():
                self._refs |= _refs("node", n.run_id, n.name, n.outputs)

    def nodes_in_states(self, states: Sequence[NodeState]) -> list[NodeRecord]:
        wanted = set(states)
        with self._lock:
            chosen = [
                (n, self._runs[run_id].created)
                for run_id, per_run in self._nodes.items()
                for n in per_run.values()
                if n.state in wanted
            ]
        chosen.sort(
            key=lambda p: (
                p[0].queued_at is None,
                p[0].queued_at or 0.0,
                p[1],
                p[0].run_id,
                p[0].position,
            )
        )
        return [n for n, _ in chosen]

    def node_state_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        wanted = set(run_ids)
        counts: dict[str, dict[str, int]] = {}
        with self._lock:
            for run_id in wanted:
                for n in self._nodes.get(run_id, {}).values():
                    per_run = counts.setdefault(run_id, {})
                    per_run[n.state] = per_run.get(n.state, 0) + 1
        return counts

    # -- cache ----------------------------------------------------------------------------

    def lookup_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        return self._guarded(found)

    def record_cache(self, entries: Sequence[CacheEntry], replace: bool = False) -> None:
        if replace:
            self.delete_cache_entries([e.key for e in entries])
        with self._lock:
            for e in entries:
                if e.key not in self._cache:
                    self._cache[e.key] = e
                    self._refs |= _refs("cache", e.run_id, e.node, e.outputs)

    def cache_entries_for_op(self, op: str, limit: int = 200) -> list[CacheEntry]:
        with self._lock:
            found = [e for e in self._cache.values() if e.op == op]
        found.sort(key=lambda e: (-e.created, e.key))
        return found[:limit]

    def delete_cache_entries(self, keys: Sequence[str]) -> int:
        with self._lock:
            gone = [self._cache.pop(k) for k in dict.fromkeys(keys) if k in self._cache]
            producers = {(e.run_id, e.node) for e in gone}
            self._refs = {r for r in self._refs if not (r[0] == "cache" and r[1:3] in producers)}
            return len(gone)

    def cache_entries_with_digests(self, digests: Sequence[str]) -> list[CacheEntry]:
        wanted = set(digests)
        with self._lock:
            found = [e for e in self._cache.values() if dataset_digests(e.outputs) & wanted]
        return sorted(found, key=lambda e: e.key)

    # -- artifacts ------------------------------------------------------------------------

    def record_artifacts(self, items: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            for digest, size in items:
                self._artifacts.setdefault(digest, size)

    def artifact_records(self) -> dict[str, int]:
        with self._lock:
            return dict(self._artifacts)

    def cache_index(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return [(e.key, e.run_id, e.node) for e in self._cache.values()]

    def node_cache_keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (n.run_id, n.cache_key)
                for nodes in self._nodes.values()
                for n in nodes.values()
                if n.cache_key is not None
            ]

    def artifact_references(self) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return sorted(self._refs)

    def referenced_digests(self) -> set[str]:
        with self._lock:
            return {r[3] for r in self._refs}

    def delete_artifact_records(self, digests: Sequence[str]) -> None:
        with self._lock:
            for digest in digests:
                self._artifacts.pop(digest, None)

    # -- logs -----------------------------------------------------------------------------

    def append_logs(self, lines: Sequence[LogLine]) -> None:
        with self._lock:
            for line in lines:
                self._log_seq += 1
                self._logs.append((self._log_seq, line))

    def get_logs(
        self,
        run_id: str,
        node: str | None,
        streams: Sequence[LogStream] = ("stdout", "stderr"),
        limit: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        with self._lock:
            found = [
                (x.ts, i, x)
                for i, x in self._logs
                if x.run_id == run_id
                and (node is None or x.node == node)
                and x.stream in streams
                and (since is None or x.ts > since)
            ]
        found.sort(key=lambda t: (t[0], t[1]))
        lines = [x for _, _, x in found]
        return lines if limit is None else lines[max(0, len(lines) - limit) :]

    def close(self) -> None:
        """Nothing to release."""


def _refs(kind: str, run_id: str, node: str, outputs: str | None) -> set[_Ref]:
    return {(kind, run_id, node, d) for d in dataset_digests(outputs)}
