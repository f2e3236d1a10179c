"""The records a submission stores: a single run, or a sweep parent and its children, with their
nodes. Built with plain constructor calls and ``os.urandom`` ids, so that 10^4 children take a
fraction of a second."""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from accio.definitions.model import Workflow
from accio.definitions.sweep import Sweep
from accio.errors import UsageError
from accio.storage.records import NodeRecord, RunRecord
from accio.values.canonical import canonical_json


def forced_nodes(workflow: Workflow, force: bool, names: Sequence[str]) -> str | None:
    """The ``force`` column of a submission's runs: JSON ``["*"]`` for every node, the sorted
    names given, or None; an unknown name is a usage error naming the workflow's nodes."""
    if force:
        return json.dumps(["*"])
    if not names:
        return None
    known = [n.name for n in workflow.nodes]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UsageError(
            f"--force-node: workflow {workflow.id!r} has no node {', '.join(map(repr, unknown))}"
            f" (its nodes: {', '.join(known)})"
        )
    return json.dumps(sorted(set(names)))


def sweep_records(
    sweep: Sweep, version: str, owner: str | None, force: str | None = None
) -> tuple[list[RunRecord], list[NodeRecord]]:
    """The runs (a single run, or a parent then its children) and nodes ``submit`` stores;
    ``force`` (see :func:`forced_nodes`) is kept on every run, so a resumed one stays forced."""
    now = time.time()
    owner = owner or getpass.getuser()
    meta = sweep.run
    types = sweep.param_types()
    base = RunRecord(
        id=os.urandom(16).hex(),
        parent_id=None,
        workflow_id=sweep.workflow.id,
        workflow_version=version,
        name=meta.name,
        notes=meta.notes,
        tags=meta.tags,
        owner=owner,
        created=now,
        seed=sweep.run_seed,
        params="{}",
        repeat_index=0,
        child_index=None,
        state="pending",
        started=None,
        completed=None,
        n_children=0,
        force=force,
    )
    node_names = [(n.name, n.op) for n in sweep.workflow.nodes]

    # '"name":{"type":"double","value":' once per parameter, not once per child
    heads = {
        k: f'{json.dumps(k)}:{{"type":{json.dumps(str(t))},"value":' for k, t in types.items()
    }

    def params_json(params: Mapping[str, Any]) -> str:
        parts = [f"{heads[k]}{canonical_json(types[k], v)}}}" for k, v in params.items()]
        return "{" + ",".join(parts) + "}"

    def nodes_of(run_id: str) -> list[NodeRecord]:
        return [
            NodeRecord(
                run_id,
                name,
                op,
                "pending",
                None,
                None,
                0,
                None,
                None,
                None,
                None,
                None,
                None,
                i,
            )
            for i, (name, op) in enumerate(node_names)
        ]

    if sweep.is_single:
        child = sweep[0]
        single = replace(base, params=params_json(child.params))
        return [single], nodes_of(single.id)
    parent = replace(base, n_children=len(sweep))
    runs = [parent]
    nodes: list[NodeRecord] = []
    wf_id, pid = sweep.workflow.id, parent.id
    # Plain constructor calls and os.urandom ids: 10^4 children in a fraction of a second.
    last: tuple[Any, str] = (None, "")  # the repeats of a combination share their params
    for child in sweep:
        rid = os.urandom(16).hex()
        if child.params is not last[0]:
            last = (child.params, params_json(child.params))
        text = last[1]
        runs.append(
            RunRecord(
                rid,
                pid,
                wf_id,
                version,
                child.name,
                None,
                (),
                owner,
                now,
                child.seed,
                text,
                child.repeat_index,
                child.index,
                "pending",
                None,
                None,
                0,
                force=force,
            )
        )
        nodes.extend(nodes_of(rid))
    return runs, nodes


__all__ = ["sweep_records"]
