"""Researcher experience through the real CLI (in-process ``main``) and a real SQLite home.

Progress counted in nodes, failure reasons, ``accio wait``, ``--json`` everywhere, search over
parameter values and child names, retention (``gc --keep-last/--older-than``), shell completion
and ``accio new operator``. Runs execute in this process (``LocalClient.execute``, inline
executor): no scheduler process is started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accio.cli.main import main
from accio.client.local import LocalClient
from accio.client.models import RunDetailOut, WaitOut
from accio.config import Settings

ADDER: dict[str, Any] = {
    "id": "adder",
    "params": [
        {"name": "epsilon", "kind": "double", "default_value": 1.0},
        {"name": "b", "kind": "double", "default_value": 2.0},
    ],
    "graph": [
        {"op": "Number", "name": "Left", "inputs": {"value": {"param": "epsilon"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Left/value"}, "b": {"param": "b"}},
        },
    ],
}
FAILING: dict[str, Any] = {
    "id": "failing",
    "params": [{"name": "x", "kind": "double", "default_value": 1.0}],
    "graph": [
        {"op": "Number", "inputs": {"value": {"param": "x"}}},
        {
            "op": "Fail",
            "inputs": {
                "value": {"reference": "Number/value"},
                "message": {"value": "boom\nsecond line"},
            },
        },
    ],
}


@dataclass
class Output:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    home: Path
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, code: int | None = 0) -> Output:
        self.capsys.readouterr()
        result = main(list(args))
        captured = self.capsys.readouterr()
        output = Output(result, captured.out, captured.err)
        assert "Traceback" not in output.err
        if code is not None:
            assert result == code, f"accio {' '.join(args)}: {output}"
        return output

    def client(self) -> LocalClient:
        return LocalClient(settings=Settings.from_env(), autostart=False)

    def execute(self) -> None:
        with self.client() as client:
            client.execute("inline", timeout=60)

    def push(self, workflow: dict[str, Any]) -> None:
        path = self.tmp / f"{workflow['id']}.json"
        path.write_text(json.dumps(workflow))
        self("push", str(path))

    def submit(self, *args: str) -> list[str]:
        return self("submit", "--no-start", "--quiet", *args).out.split()


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    for name in ("ACCIO_SERVER", "ACCIO_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_USER", "tester")
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path / "home", tmp_path, capsys)


# -- 1. progress in nodes ----------------------------------------------------------------------


def test_progress_is_counted_in_nodes_for_runs_and_sweeps(cli: Cli) -> None:
    cli.push(ADDER)
    sweep = cli.submit("adder", "--repeat=3")
    parent, children = sweep[0], sweep[1:]
    assert len(children) == 3
    detail = RunDetailOut.model_validate(cli("describe", "run", parent, "--json").json())
    assert detail.node_progress == {"pending": 6}  # 3 children x 2 nodes, none started
    shown = cli("describe", "run", parent[:12]).out
    assert "0/6 nodes (0%): 6 queued" in shown
    # a child that has not started is labelled queued, not running
    assert "queued" in shown.split("Child Runs")[1]
    assert "0% 0/6" in cli("get", "runs").out
    assert cli("get", "runs", "--parent", parent[:12]).out.count("0% 0/2") == 3

    cli.execute()
    detail = RunDetailOut.model_validate(cli("describe", "run", parent, "--json").json())
    assert sum(detail.node_progress.values()) == 6
    assert detail.node_progress.get("failed", 0) == 0
    assert "6/6 nodes (100%)" in cli("describe", "run", parent[:12]).out
    assert "100% 6/6" in cli("get", "runs").out
    assert detail.failure_reason is None


# -- 2. failure reasons, accio wait ---------------------------------------------------------------


def test_failures_show_their_reason_in_describe_and_wait(cli: Cli) -> None:
    cli.push(FAILING)
    single = cli.submit("failing")[0]
    ok_wf = dict(ADDER)
    cli.push(ok_wf)
    ok = cli.submit("adder")[0]
    cli.execute()

    shown = cli("describe", "run", single[:12]).out
    assert "Reason         node Fail: RuntimeError: boom" in shown
    assert "second line" not in shown.split("Nodes")[0]

    waited = cli("wait", single[:12], ok[:12], code=4)
    assert "node Fail: RuntimeError: boom" in waited.err
    report = WaitOut.model_validate(cli("wait", "--json", single, ok, code=4).json())
    assert report.success is False
    assert [r.state for r in report.runs] == ["failed", "success"]
    assert report.runs[0].failure_reason == "node Fail: RuntimeError: boom"
    assert cli("wait", "--quiet", ok).out == ""
    assert cli("wait", "nosuchrun", code=1).err.startswith("ERROR:")


def test_a_failed_sweep_names_the_failed_child(cli: Cli) -> None:
    cli.push(FAILING)
    parent = cli.submit("failing", "--repeat=2")[0]
    cli.execute()
    detail = RunDetailOut.model_validate(cli("describe", "run", parent, "--json").json())
    assert detail.failure_reason is not None
    assert detail.failure_reason.startswith("child #")
    assert detail.failure_reason.endswith("node Fail: RuntimeError: boom")
    assert detail.node_progress == {"success": 1, "cached": 1, "failed": 2}  # Number is stable


def test_an_unknown_operator_fails_at_submit_and_stores_nothing(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.push(ADDER)
    monkeypatch.setenv("ACCIO_PLUGINS", "")  # the submitting process does not know Number
    refused = cli("submit", "--no-start", "adder", code=2)
    assert "unknown operator 'Number'" in refused.err
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    assert cli("get", "runs", "--json").json() == []
