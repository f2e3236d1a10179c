"""Key computations of one ready batch share a fingerprint snapshot: a sweep whose children all
name one directory (a ``file=True`` port) stats and walks it once, not once per child."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accio.cache.fingerprint import FingerprintCache, default_cache
from accio.client.client import Client
from accio.config import Settings
from accio.executors.inline import InlineExecutor
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry

CHILDREN = 40


@operator(category="test", help="Counts the files of a folder (plus x, to sweep over).")
class CountFiles:
    class Inputs:
        folder = Port("string", file=True)
        x = Port("double")

    class Outputs:
        n = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"n": float(len(os.listdir(inputs["folder"]))) + inputs["x"]}


def test_a_sweep_naming_one_directory_fingerprints_it_once_per_batch(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.txt").write_text(str(i))
    registry = OperatorRegistry([CountFiles])
    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "home")})
    with Client(settings=settings, registry=registry, autostart=False) as client:
        client.push(
            {
                "id": "count",
                "params": [{"name": "folder", "kind": "string"}, {"name": "x", "kind": "double"}],
                "graph": [
                    {
                        "op": "CountFiles",
                        "inputs": {"folder": {"param": "folder"}, "x": {"param": "x"}},
                    }
                ],
            }
        )
        xs = [float(i) for i in range(CHILDREN)]
        sub = client.submit(
            {"workflow": "count", "params": {"folder": str(folder), "x": {"values": xs}}},
            start=False,
        )
        runtime = client.runtime  # type: ignore[attr-defined]
        scheduler = runtime.scheduler(
            executor=InlineExecutor(str(settings.artifacts_dir), registry)
        )
        before = default_cache().stats
        try:
            scheduler.run_until_idle(timeout=60)
        finally:
            scheduler.close()
        walked = default_cache().stats - before
        assert client.run(sub.run_id).state == "success"
        one_walk = FingerprintCache()
        one_walk.fingerprint(str(folder))
        assert walked == one_walk.stats  # one batch of 40 ready children: one walk, not 40
