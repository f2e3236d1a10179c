"""A source re-reads a file that changed, and only then: inputs are keyed by their content.

``EventSource.url`` is declared ``Port("string", file=True)``, so the key of a source node holds
the size and content hash of what it reads. An in-place edit (same size, even with the mtime put
back) re-executes the source and everything downstream; an unchanged or merely touched file
gives cache hits all the way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.config import Settings
from accio.ops.registry import OperatorRegistry
from accio.testing import Mean
from accio_locapriv.sources import EventSource

WORKFLOW = {
    "id": "reader",
    "params": [{"name": "uri", "kind": "string"}],
    "graph": [
        {"op": "EventSource", "name": "Source", "inputs": {"url": {"param": "uri"}}},
        {
            "op": "Mean",
            "name": "MeanLat",
            "inputs": {"data": {"reference": "Source/data"}, "column": "lat"},
        },
    ],
}

CSV = "id,lat,lng,time\n" + "".join(
    f"u{i % 3},45.{i:04d},4.{i:04d},{1_462_147_200_000 + i * 60_000}\n" for i in range(200)
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    registry = OperatorRegistry([EventSource, Mean])
    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "home")})
    with Client(settings=settings, registry=registry, autostart=False) as c:
        c.push(WORKFLOW)
        yield c


def run(client: Client, uri: Path) -> tuple[str, dict[str, Any]]:
    sub = client.submit({"workflow": "reader", "seed": 1, "params": {"uri": str(uri)}})
    client.execute("inline")
    return sub.run_id, {n.name: n for n in client.nodes(sub.run_id)}


def states(nodes: dict[str, Any]) -> dict[str, str]:
    return {name: node.state for name, node in nodes.items()}


def mean_lat(nodes: dict[str, Any]) -> float:
    return float(json.loads(nodes["MeanLat"].outputs)["mean"]["value"])


def edit_same_size(path: Path, old: str, new: str, *, keep_mtime: bool = False) -> None:
    """Replace text in place without changing the size; a new mtime unless ``keep_mtime``."""
    before = path.stat()
    text = path.read_text()
    assert len(old) == len(new) and old in text
    with open(path, "r+") as handle:  # in place: same inode
        handle.write(text.replace(old, new, 1))
    assert path.stat().st_size == before.st_size
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))


def test_unchanged_file_gives_hits_everywhere(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "events.csv"
    data.write_text(CSV)
    _, first = run(client, data)
    assert states(first) == {"Source": "success", "MeanLat": "success"}
    _, second = run(client, data)
    assert states(second) == {"Source": "cached", "MeanLat": "cached"}
    os.utime(data, ns=(0, data.stat().st_mtime_ns + 10_000_000_000))  # touch: same content
    _, third = run(client, data)
    assert states(third) == {"Source": "cached", "MeanLat": "cached"}


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["new-mtime", "mtime-put-back"])
def test_in_place_edit_reexecutes_source_and_downstream(
    client: Client, tmp_path: Path, keep_mtime: bool
) -> None:
    data = tmp_path / "events.csv"
    data.write_text(CSV)
    _, first = run(client, data)
    edit_same_size(data, "u0,45.0000", "u0,46.0000", keep_mtime=keep_mtime)

    changed_run, changed = run(client, data)

    assert states(changed) == {"Source": "success", "MeanLat": "success"}
    assert mean_lat(changed) == pytest.approx(mean_lat(first) + 1.0 / 200)
    explained = {e.node: e for e in client.explain(changed_run)}
    assert "input file changed (url)" in explained["Source"].differences
    _, again = run(client, data)
    assert states(again) == {"Source": "cached", "MeanLat": "cached"}


def test_a_file_changed_inside_a_directory_is_seen(client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    (folder / "sub").mkdir(parents=True)
    rows = [f"45.{i:04d},4.{i:04d},{1_462_147_200_000 + i * 60_000}\n" for i in range(50)]
    (folder / "ada.csv").write_text("".join(rows))
    (folder / "bob.csv").write_text("".join(rows))
    _, first = run(client, folder)
    assert states(first) == {"Source": "success", "MeanLat": "success"}
    _, hits = run(client, folder)
    assert states(hits) == {"Source": "cached", "MeanLat": "cached"}

    edit_same_size(folder / "bob.csv", "45.0000", "47.0000")
    _, changed = run(client, folder)
    assert states(changed) == {"Source": "success", "MeanLat": "success"}
    assert mean_lat(changed) != mean_lat(first)

    (folder / "cy.csv").write_text("".join(rows))  # a new file in the directory
    _, added = run(client, folder)
    assert states(added)["Source"] == "success"


def test_unchanged_output_keeps_downstream_hits(client: Client, tmp_path: Path) -> None:
    """The file changed but the table read from it did not: downstream keys chain on content."""
    data = tmp_path / "events.csv"
    data.write_text(CSV)
    run(client, data)
    data.write_text(CSV.replace("\n", "\r\n", 1))  # a different file, the same events
    _, again = run(client, data)
    assert states(again) == {"Source": "success", "MeanLat": "cached"}
