"""The rows Accio stores, as frozen dataclasses shared by every storage backend.

These types import no SQLAlchemy so that the engine, the client and the in-memory twin can use
them without a database. JSON-valued fields (``definition``, ``params``, ``outputs``, ``error``,
``components``) stay as text: storage never interprets them, except to find the dataset digests
that outputs refer to (:func:`dataset_digests`), which garbage collection must keep.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

# The state vocabulary lives in accio.states; re-exported for modules not yet switched to it.
from accio.states import ALL_NODE_STATES as ALL_NODE_STATES
from accio.states import ALL_RUN_STATES as ALL_RUN_STATES
from accio.states import UNFINISHED_RUN_STATES as UNFINISHED_RUN_STATES
from accio.states import NodeState as NodeState
from accio.states import RunState as RunState

LogStream = Literal["stdout", "stderr"]


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """One pushed version of a workflow definition; ``active`` marks the version in use."""

    id: str
    version: str
    definition: str
    name: str | None
    owner: str | None
    created: float
    active: bool


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run: a single run, a sweep parent (``n_children > 0``) or a sweep child.

    ``params`` is JSON text ``{param: canonical typed json}``; ``seed`` fits in 63 bits.
    ``created``/``started``/``completed`` are epoch seconds.
    """

    id: str
    parent_id: str | None
    workflow_id: str
    workflow_version: str
    name: str | None
    notes: str | None
    tags: tuple[str, ...]
    owner: str
    created: float
    seed: int
    params: str
    repeat_index: int
    child_index: int | None
    state: RunState
    started: float | None
    completed: float | None
    n_children: int
    progress: float = 0.0
    #: JSON list of forced node names (``["*"]``: every node), kept so a resumed run stays
    #: forced; None when nothing is forced.
    force: str | None = None

    @property
    def is_parent(self) -> bool:
        return self.n_children > 0


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """The state of one node of one run.

    ``outputs`` is JSON text ``{port: canonical typed json}``; ``error`` is JSON text.
    ``cache_source`` is the run whose execution produced outputs reused from the cache.
    ``position`` is the node's index in the run's topological order.
    ``ran_on`` is where its last execution ran (``"slurm job 1234 on HOST"``, ``"HOST pid
    PID"``); empty if it never ran (a cache hit, pending).
    """

    run_id: str
    name: str
    op: str
    state: NodeState
    cache_key: str | None
    seed: int | None
    attempts: int
    queued_at: float | None
    started: float | None
    completed: float | None
    error: str | None
    outputs: str | None
    cache_source: str | None
    position: int
    ran_on: str = ""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A memoized node execution: cache key -> outputs, plus what the key was made of.

    ``components`` is JSON text ``{"inputs": {port: digest}, "seed": int | None}`` so that
    ``explain`` can say which part of a key changed.
    """

    key: str
    op: str
    op_version: str
    code_hash: str
    components: str
    outputs: str
    run_id: str
    node: str
    created: float
    duration: float


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a node wrote to stdout or stderr; ``ts`` is epoch seconds."""

    run_id: str
    node: str
    ts: float
    stream: LogStream
    line: str


@dataclass(frozen=True, slots=True)
class RunsFilter:
    """What ``list_runs``/``count_runs`` select.

    Attributes
    ----------
    workflow
        Workflow id.
    tags
        The run must carry **all** of them.
    owner
        Exact owner.
    states
        Any of these run states.
    text
        Words matched case-insensitively as prefixes of words in name, notes or tags of
        top-level runs; punctuation only separates words, so any user text is safe. Text
        without any word matches every run.
    parent_id
        Only children of this run (in that case ``top_level_only`` is ignored).
    top_level_only
        Exclude sweep children.
    """

    workflow: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    states: tuple[str, ...] = ()
    text: str | None = None
    parent_id: str | None = None
    top_level_only: bool = True
    limit: int = 50
    offset: int = 0


_WORD = re.compile(r"[^\W_]+")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def search_words(text: str | None) -> list[str]:
    """Lower-cased words of a text without diacritics, split as SQLite FTS5 ``unicode61`` does."""
    if not text:
        return []
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain)


def dataset_digests(outputs_json: str | None) -> set[str]:
    """Artifact digests referenced by an outputs JSON text ``{port: {"type", "value"}}``.

    Dataset values (also inside ``list(dataset)``, ``set(dataset)`` and maps) hold either a
    digest or an external URI; only digests are returned.
    """
    if not outputs_json or "dataset" not in outputs_json:  # cheap: most outputs hold none
        return set()
    try:
        outputs = json.loads(outputs_json)
    except ValueError:
        return set()
    return {d for d in _walk_dataset_values(outputs) if _DIGEST.match(d)}


def _walk_dataset_values(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        kind = obj.get("type")
        if isinstance(kind, str) and "value" in obj and "dataset" in kind:
            yield from _dataset_strings(kind.replace(" ", "").lower(), obj["value"])
            return
        for item in obj.values():
            yield from _walk_dataset_values(item)
    elif isinstance(obj, list):
        for item in obj:
            yield from _walk_dataset_values(item)


def _dataset_strings(kind: str, value: Any) -> Iterator[str]:
    if kind == "dataset":
        if isinstance(value, str):
            yield value
    elif kind in ("list(dataset)", "set(dataset)"):
        if isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))
    elif kind.startswith("map(") and isinstance(value, dict):
        key_type, _, value_type = kind[4:-1].partition(",")
        if key_type == "dataset":
            yield from (k for k in value if isinstance(k, str))
        if value_type == "dataset":
            yield from (v for v in value.values() if isinstance(v, str))
