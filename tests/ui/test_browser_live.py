"""The UI as a researcher meets it: reachable after a plain ``accio submit``, and a node's log
lines appearing on the run page while the node still runs.

Real CLI, real auto-started scheduler process (which serves the UI), real Chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, free_port, pythonpath

from .test_browser import browser, page  # noqa: F401 - shared fixtures (skip without Chromium)

pytestmark = pytest.mark.integration

LINES, EVERY = 16, 0.4  # one line every 0.4 s for 6.4 s


PLUGIN = f"""
import time

from accio.ops.api import Port, operator


@operator(category="test", help="Print numbered lines at a steady pace.")
class Talkative:
    class Inputs:
        lines = Port("integer", default={LINES})
        every = Port("double", default={EVERY})

    class Outputs:
        printed = Port("integer")

    def run(self, inputs, ctx):
        for i in range(inputs["lines"]):
            print(f"talk {{i}}", flush=True)
            time.sleep(inputs["every"])
        return {{"printed": inputs["lines"]}}


def operators():
    return [Talkative]
"""


class Cli(AccioCli):
    """The ``accio`` command on a fresh home, with this module as its plugin."""

    def __init__(self, root: Path) -> None:
        (root / "plugin").mkdir()
        (root / "plugin" / "talkative_plugin.py").write_text(PLUGIN)
        super().__init__(
            root,
            plugins="talkative_plugin:operators",
            columns=None,
            timeout=90,
            env={
                "PYTHONPATH": pythonpath(root / "plugin"),
                "ACCIO_HTTP": f"127.0.0.1:{free_port()}",
            },
        )

    def __call__(self, *args: str) -> str:
        return self.run(*args).output


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    tool = Cli(tmp_path)
    workflow = {
        "id": "talk",
        "name": "Talk",
        "params": [
            {"name": "lines", "kind": "integer", "default_value": LINES},
            {"name": "every", "kind": "double", "default_value": EVERY},
        ],
        "graph": [
            {
                "op": "Talkative",
                "inputs": {"lines": {"param": "lines"}, "every": {"param": "every"}},
            }
        ],
    }
    (tmp_path / "talk.json").write_text(json.dumps(workflow))
    yield tool
    tool.stop()


def _ui_url(output: str) -> str:
    match = re.search(r"(http://127\.0\.0\.1:\d+/runs/[0-9a-f]+)", output)
    assert match, f"accio submit printed no web UI address: {output}"
    return match.group(1)


def test_the_ui_is_there_after_a_plain_submit(page: Any, cli: Cli) -> None:  # noqa: F811
    cli("push", "talk.json")
    out = cli("submit", "talk", "-name=first look", "lines=2", "every=0.05")
    url = _ui_url(out)  # no 'server start': the auto-started scheduler serves the UI
    page.goto(url)
    assert "first look" in page.inner_text("body")
    page.wait_for_selector("#live[data-state=success]", timeout=60_000)


def test_a_log_line_appears_while_its_node_runs(page: Any, cli: Cli) -> None:  # noqa: F811
    cli("push", "talk.json")
    url = _ui_url(cli("submit", "talk", "-name=chatty"))
    run_id = url.rsplit("/", 1)[1]
    page.goto(url)
    page.click("#live button:has-text('logs')")  # the node's logs panel
    page.wait_for_selector("#logs pre.log :text('talk 0')", timeout=20_000)
    seen_while_running = json.loads(cli("describe", "run", run_id, "--json"))["state"]
    shown = page.inner_text("#logs")
    assert seen_while_running in ("pending", "running"), seen_while_running
    assert f"talk {LINES - 1}" not in shown  # the node has not finished printing
    # the panel keeps following the node: later lines arrive without a click
    page.wait_for_selector(f"#logs pre.log :text('talk {LINES // 2}')", timeout=20_000)
