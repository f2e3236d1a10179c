"""The wide results table that both clients return from ``results()``.

One row per child (or the single run): ``run_id``, ``name``, ``repeat``, ``seed``, ``state``, one
column per parameter (its canonical value) and one per scalar output (``Node/port``). The long
table, one row per output value, is :func:`accio.client.export.long_results`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from accio.client.longtable import PARAMS_KEY
from accio.storage.records import NodeRecord, RunRecord


def wide_table(
    runs: Sequence[RunRecord], nodes_by_run: Mapping[str, Sequence[NodeRecord]]
) -> pa.Table:
    """The wide table of ``runs`` (in that order) from their nodes' stored outputs."""
    rows: list[dict[str, Any]] = []
    params: dict[str, None] = {}
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "name": run.name,
            "repeat": run.repeat_index,
            "seed": run.seed,
            "state": run.state,
        }
        for pname, typed in json.loads(run.params).items():
            row[pname] = _plain(typed)
            params[pname] = None
        for node in nodes_by_run.get(run.id, ()):
            if node.outputs:
                for port, typed in json.loads(node.outputs).items():
                    value = _plain(typed)
                    if isinstance(value, int | float | str | bool):
                        row[f"{node.name}/{port}"] = value
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    return table.replace_schema_metadata({PARAMS_KEY: json.dumps(list(params))})


def _plain(typed: Mapping[str, Any]) -> Any:
    return typed.get("value")


__all__ = ["wide_table"]
