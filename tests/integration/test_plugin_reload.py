"""Plugins: loaded alike by every process, and edited code picked up without a restart.

Plugin modules are written to a temporary directory on ``PYTHONPATH`` and named by
``ACCIO_PLUGINS``; everything goes through the real ``accio`` CLI and the scheduler process it
starts in the background, which is never restarted between the submissions of a test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, free_port, pythonpath

pytestmark = pytest.mark.integration

PLUGIN = """
from accio.ops.api import Port, operator


@operator(category="test", help="A constant answer.")
class {name}:
    class Outputs:
        value = Port("double")

    def run(self, inputs, ctx):
        return {{"value": {value}}}


def operators():
    return [{name}]
"""


class Cli(AccioCli):
    def __init__(self, root: Path, plugins: str) -> None:
        self.plugins = root / "plugins"
        self.plugins.mkdir()
        super().__init__(
            root,
            plugins=plugins,
            timeout=120,
            env={
                "ACCIO_USER": "tester",
                "PYTHONPATH": pythonpath(self.plugins),
                "ACCIO_HTTP": f"127.0.0.1:{free_port()}",  # 8765 may be taken by others
            },
        )

    def plugin(self, module: str, name: str, value: float) -> None:
        (self.plugins / f"{module}.py").write_text(PLUGIN.format(name=name, value=value))

    def __call__(self, *args: str, code: int = 0, **env: str) -> str:
        return self.run(*args, code=code, **env).output

    def workflow(self, wf_id: str, op: str) -> None:
        (self.root / f"{wf_id}.json").write_text(json.dumps({"id": wf_id, "graph": [{"op": op}]}))
        self("push", f"{wf_id}.json")

    def submit(self, wf_id: str, code: int = 0, **env: str) -> dict[str, Any]:
        run_id = self("submit", wf_id, "--quiet", **env).split()[0]
        self("wait", run_id, code=code)
        described: dict[str, Any] = json.loads(self("describe", "run", run_id, "--json"))
        return described


def value(run: dict[str, Any]) -> float:
    outputs = run["nodes"][0]["outputs"]
    outputs = json.loads(outputs) if isinstance(outputs, str) else outputs
    return float(outputs["value"]["value"])


@pytest.fixture
def make_cli(tmp_path: Path) -> Iterator[Any]:
    made: list[Cli] = []

    def make(plugins: str) -> Cli:
        made.append(Cli(tmp_path, plugins))
        return made[-1]

    yield make
    for tool in made:
        tool.stop()


def test_edited_operator_runs_its_new_code_without_a_restart(make_cli: Any) -> None:
    cli = make_cli("mymod:operators")
    cli.plugin("mymod", "Answer", 1.0)
    cli.workflow("answer", "Answer")
    first = cli.submit("answer")  # starts the scheduler in the background
    assert first["state"] == "success" and value(first) == 1.0
    pid = (cli.home / "scheduler.pid").read_text()

    cli.plugin("mymod", "Answer", 2.0)  # same size: only the content (and mtime) differ
    second = cli.submit("answer")
    assert second["state"] == "success" and value(second) == 2.0
    assert (cli.home / "scheduler.pid").read_text() == pid  # the same scheduler process
    explained = cli("explain", second["id"])
    assert "code" in explained, explained


def test_a_plugin_created_after_the_scheduler_started_is_loaded(make_cli: Any) -> None:
    cli = make_cli("mymod:operators,latemod:operators")
    cli.plugin("mymod", "Answer", 1.0)
    cli.workflow("answer", "Answer")
    assert cli.submit("answer")["state"] == "success"  # latemod missing: a warning, no crash
    ops = cli("get", "operators")
    assert "latemod" in ops and "Answer" in ops  # the broken plugin is named, the rest listed

    cli.plugin("latemod", "Late", 3.0)
    cli.workflow("late", "Late")
    late = cli.submit("late")
    assert late["state"] == "success" and value(late) == 3.0


def test_an_operator_the_scheduler_does_not_know_fails_with_its_reason(make_cli: Any) -> None:
    cli = make_cli("mymod:operators")
    cli.plugin("mymod", "Answer", 1.0)
    cli.plugin("extra", "Extra", 4.0)
    cli("server", "start")  # its plugin list: mymod only
    both = "mymod:operators,extra:operators"
    (cli.root / "extra.json").write_text(json.dumps({"id": "extra", "graph": [{"op": "Extra"}]}))
    cli("push", "extra.json", ACCIO_PLUGINS=both)
    run = cli.submit("extra", code=4, ACCIO_PLUGINS=both)  # exit 4: the run failed
    assert run["state"] == "failed"
    node = run["nodes"][0]
    assert node["state"] == "failed"
    assert "unknown operator 'Extra'" in json.dumps(node["error"]), node
    described = cli("describe", "run", run["id"])
    assert "unknown operator 'Extra'" in described, described
