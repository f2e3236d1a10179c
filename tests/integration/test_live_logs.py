"""Live logs: a running node's lines reach ``accio logs`` while it runs, not when it ends.

Through the real CLI and its auto-started scheduler process. The printing operator lives in this
module and is loaded everywhere (CLI, scheduler, workers) via ``ACCIO_PLUGINS=test_live_logs:
operators`` with this directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, free_port, pythonpath

from accio.client.client import Client
from accio.errors import NotFoundError
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry

pytestmark = pytest.mark.integration

LINES, EVERY = 10, 0.3  # one line every 0.3 s for 3 s


@operator(category="test", help="Print numbered lines at a steady pace.")
class Chatty:
    class Inputs:
        lines = Port("integer", default=LINES)
        every = Port("double", default=EVERY)

    class Outputs:
        printed = Port("integer")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        for i in range(inputs["lines"]):
            print(f"line {i}", flush=True)
            time.sleep(inputs["every"])
        return {"printed": inputs["lines"]}


def operators() -> list[type]:
    return [Chatty]


class Cli(AccioCli):
    def __init__(self, root: Path) -> None:
        here = Path(__file__).parent
        super().__init__(
            root,
            plugins="test_live_logs:operators",
            columns=None,
            env={
                "ACCIO_USER": "tester",
                # this module is the plugin; it imports tests.clirun, from the repository root
                "PYTHONPATH": pythonpath(here, here.parents[1]),
                "ACCIO_HTTP": f"127.0.0.1:{free_port()}",  # 8765 may be taken by others
            },
        )

    def __call__(self, *args: str) -> str:
        return self.run(*args).out


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    tool = Cli(tmp_path)
    yield tool
    tool.stop()


def test_lines_show_while_the_node_runs(cli: Cli) -> None:
    workflow = {"id": "chatty", "graph": [{"op": "Chatty"}]}
    (cli.root / "chatty.json").write_text(json.dumps(workflow))
    cli("push", "chatty.json")
    cli("server", "start")  # warm: the timing below is the node's, not the scheduler's start
    run_id = cli("submit", "chatty", "--quiet").split()[0]

    # When the line is stored, polled fast through the library (a CLI call takes ~0.5 s).
    reader = Client(home=cli.home, registry=OperatorRegistry([Chatty]), autostart=False)
    stored_at = 0.0
    deadline = time.time() + 30
    while not stored_at and time.time() < deadline:
        with contextlib.suppress(NotFoundError):  # the node rows may not be written yet
            if reader.logs(run_id, "Chatty"):
                stored_at = time.time()
        time.sleep(0.05)
    assert stored_at, "no line within 30 s"
    shown = cli("logs", run_id, "Chatty")  # and what a user sees, the node still running
    assert "line 0" in shown and f"line {LINES - 1}" not in shown, shown

    final = json.loads(cli("describe", "run", run_id, "--json"))
    while final["state"] not in ("success", "failed") and time.time() < deadline:
        time.sleep(0.3)
        final = json.loads(cli("describe", "run", run_id, "--json"))
    assert final["state"] == "success", final
    started = next(n for n in final["nodes"] if n["name"] == "Chatty")["started"]
    print(f"first line stored {stored_at - started:.2f} s after the node started")
    assert stored_at - started <= 1.5, f"first line stored {stored_at - started:.2f} s after start"

    logged = json.loads(cli("logs", run_id, "Chatty", "--json"))
    lines = [entry["line"] for entry in logged]
    assert lines == [f"line {i}" for i in range(LINES)]  # streamed and final lines, once each
