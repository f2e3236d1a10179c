"""Operator code edited while a sweep runs: each result is cached under the code that made it.

The sweep keeps the plan it was submitted with, but its nodes dispatched after the plugins were
re-imported run the new code. Those results must be cached under the new code's key: after the
code is reverted, a new run of the sweep must execute them again (or take entries the original
code produced), never be served what the edited code computed. Everything goes through the real
``accio`` CLI and one background scheduler, as in ``test_plugin_reload.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, free_port, pythonpath, wait_until

pytestmark = pytest.mark.integration

#: ``x + offset`` once the gate file exists; each start leaves a mark. The offset is in the class
#: body, so that each version has its own code hash. It takes both cpus: nodes run one at a
#: time, none handed to a worker ahead of time (a task queued in a worker before the reload
#: runs the code that worker imported, the planned one).
GATED = """
import time
from pathlib import Path

from accio.ops.api import Port, operator

GATE = Path({gate!r})


@operator(category="test", help="x plus an offset, once the gate opens.", cpus=2)
class Gated:
    class Inputs:
        x = Port("double")

    class Outputs:
        value = Port("double")

    def run(self, inputs, ctx):
        (GATE / f"started-{{inputs['x']:g}}").write_text("")
        deadline = time.time() + 60
        while not (GATE / "open").exists() and time.time() < deadline:
            time.sleep(0.02)
        return {{"value": inputs["x"] + {offset}}}


def operators():
    return [Gated]
"""

ANSWER = """
from accio.ops.api import Port, operator


@operator(category="test", help="A constant.")
class Answer:
    class Outputs:
        value = Port("double")

    def run(self, inputs, ctx):
        return {"value": 42.0}


def operators():
    return [Answer]
"""

ORIGINAL, EDITED = 1000, 2000  # same length: only the content (and mtime) differ
SWEEP = json.dumps({"workflow": "gated", "params": {"x": {"values": [1, 2]}}})


class Cli(AccioCli):
    """The ``accio`` command on a home of its own, with two cpus."""

    def __init__(self, root: Path) -> None:
        self.plugins = root / "plugins"
        self.gate = root / "gate"
        self.plugins.mkdir()
        self.gate.mkdir()
        super().__init__(
            root,
            plugins="gatedmod:operators,answermod:operators",
            timeout=120,
            env={
                "ACCIO_USER": "tester",
                "PYTHONPATH": pythonpath(self.plugins),
                "ACCIO_HTTP": f"127.0.0.1:{free_port()}",
            },
        )
        (self.plugins / "answermod.py").write_text(ANSWER)
        self.write(ORIGINAL)

    def write(self, offset: int) -> None:
        (self.plugins / "gatedmod.py").write_text(GATED.format(gate=str(self.gate), offset=offset))

    def __call__(self, *args: str, code: int = 0) -> str:
        return self.run(*args, code=code).output

    def push(self, wf_id: str, graph: list[dict[str, Any]], params: list[Any]) -> None:
        document = {"id": wf_id, "params": params, "graph": graph}
        (self.root / f"{wf_id}.json").write_text(json.dumps(document))
        self("push", f"{wf_id}.json")

    def submit(self, run: str) -> list[str]:
        """Run ids created: a sweep's parent first, then its children."""
        return self("submit", run, "--quiet").split()

    def describe(self, run_id: str) -> dict[str, Any]:
        described: dict[str, Any] = json.loads(self("describe", "run", run_id, "--json"))
        return described


def by_x(cli: Cli, children: list[str]) -> dict[float, dict[str, Any]]:
    """The single node of each child run, by its x."""
    out = {}
    for child in children:
        run = cli.describe(child)
        out[run["params"]["x"]["value"]] = run["nodes"][0]
    return out


def value(node: dict[str, Any]) -> float:
    return float(node["outputs"]["value"]["value"])


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    tool = Cli(tmp_path)
    yield tool
    tool.stop()


def test_results_of_code_edited_mid_run_are_never_served_to_the_reverted_code(
    cli: Cli,
) -> None:
    cli.push(
        "gated",
        [{"op": "Gated", "inputs": {"x": {"param": "x"}}}],
        [{"name": "x", "kind": "double"}],
    )
    cli.push("answer", [{"op": "Answer"}], [])
    (trigger,) = cli.submit("answer")  # starts the scheduler; later submissions of it: hits
    cli("wait", trigger)

    # A: x=1 runs the original code and waits at the gate; x=2 waits for its cpus.
    parent, *children = cli.submit(SWEEP)
    wait_until(lambda: (cli.gate / "started-1").exists(), 60, "x=1 never started")
    assert not (cli.gate / "started-2").exists()
    cli.write(EDITED)
    (trigger,) = cli.submit("answer")  # any submission re-imports the edited plugin
    cli("wait", trigger)  # handled: plugins reloaded, workers recycled
    (cli.gate / "open").write_text("")
    cli("wait", parent)
    first = by_x(cli, children)
    assert first[1.0]["state"] == "success" and value(first[1.0]) == 1 + ORIGINAL
    assert first[2.0]["state"] == "success" and value(first[2.0]) == 2 + EDITED  # new code ran
    assert first[1.0]["error"] is None
    note = first[2.0]["error"]  # what describe shows of the node: it ran the new code
    described = cli("describe", "node", f"{children[1]}/Gated")
    assert note is not None and note["reason"] == "code_changed", note
    assert "code changed while this run was in flight" in described, described

    # B, with the edited code on disk: x=2 is the edited code's result, found under its key.
    parent_b, *children_b = cli.submit(SWEEP)
    cli("wait", parent_b)
    second = by_x(cli, children_b)
    assert second[2.0]["state"] == "cached" and second[2.0]["cache_source"] == children[1]
    assert second[2.0]["cache_key"] == first[2.0]["cache_key"]
    assert second[1.0]["state"] == "success" and value(second[1.0]) == 1 + EDITED

    # C, the code reverted: x=1 is the original code's result again; x=2 must run again.
    cli.write(ORIGINAL)
    parent_c, *children_c = cli.submit(SWEEP)
    cli("wait", parent_c)
    third = by_x(cli, children_c)
    assert third[1.0]["state"] == "cached" and third[1.0]["cache_source"] == children[0]
    assert value(third[1.0]) == 1 + ORIGINAL
    assert third[2.0]["state"] == "success", third[2.0]  # not a hit on the edited code's result
    assert value(third[2.0]) == 2 + ORIGINAL
    assert third[2.0]["cache_key"] != first[2.0]["cache_key"]
    explained = cli("explain", children_c[1])
    assert "code" in explained and children[1] in explained, explained
