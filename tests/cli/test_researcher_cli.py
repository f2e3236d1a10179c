"""Researcher experience through the real CLI (in-process ``main``) and a real SQLite home.

Progress counted in nodes, failure reasons, ``accio wait``, ``--json`` everywhere, search over
parameter values and child names, retention (``gc --keep-last/--older-than``), shell completion
and ``accio new operator``. Runs execute in this process (``LocalClient.execute``, inline
executor): no scheduler process is started.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import InProcess, use_home

from accio.client.models import RunDetailOut, WaitOut

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
class Cli(InProcess):
    home: Path
    tmp: Path
    capsys: pytest.CaptureFixture[str]

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
    use_home(monkeypatch, tmp_path / "home")
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
    assert "pending" in shown.split("Child Runs")[1]
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


def test_a_running_run_none_of_whose_nodes_started_is_shown_queued() -> None:
    from accio.client.progress import progress_text, shown_state

    assert shown_state("running", {"pending": 3, "queued": 2}) == "queued"
    assert shown_state("running", {"queued": 1, "running": 1}) == "running"
    assert shown_state("running", {"cached": 1, "queued": 1}) == "running"
    assert shown_state("pending", {"pending": 2}) == "pending"
    counts = {"success": 400, "cached": 60, "running": 4, "queued": 90, "pending": 6}
    assert (
        progress_text(counts) == "460/560 nodes (82%): 400 done, 60 cached, 4 running, 96 queued"
    )


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


# -- 3. --json everywhere, 1-based repeats ---------------------------------------------------------


def test_json_of_kill_delete_export_and_repeats_are_one_based(cli: Cli) -> None:
    cli.push(ADDER)
    parent, *children = cli.submit("adder", "--repeat=2")
    killed = cli("kill", "--json", children[0]).json()
    assert killed == {"killed": [children[0]], "already_finished": []}
    cli.execute()
    export = cli("export", "--json", parent, "--out", str(cli.tmp / "out")).json()
    assert export["runs"] == 2 and export["dataset_digests"] == []  # children found
    with (cli.tmp / "out" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["name"], r["repeat"]) for r in rows} == {
        ("#2", "2")
    }  # the surviving child is '#2'; repeats count from 1 like names
    deleted = cli("delete", "run", "--json", parent).json()
    assert deleted["deleted"][0] == parent and len(deleted["deleted"]) == 3
    assert cli("get", "runs", "--json").json() == []


def test_export_copies_datasets_only_when_asked(cli: Cli) -> None:
    cli.push(
        {
            "id": "table",
            "graph": [{"op": "RandomTable", "name": "Table", "inputs": {"rows": 3}}],
        }
    )
    run = cli.submit("table")[0]
    cli.execute()
    plain = cli("export", "--json", run, "--out", str(cli.tmp / "a")).json()
    assert len(plain["dataset_digests"]) == 1
    assert not (cli.tmp / "a" / "datasets").exists()
    text = cli("export", run, "--out", str(cli.tmp / "b")).out
    assert plain["dataset_digests"][0] in text and "--datasets" in text
    copied = cli("export", "--json", "--datasets", run, "--out", str(cli.tmp / "c")).json()
    assert copied["dataset_digests"] == []
    assert len(list((cli.tmp / "c" / "datasets").rglob("*.parquet"))) == 1


# -- 4. search over parameter values and child names ----------------------------------------------


def test_get_runs_text_finds_parameter_values_and_child_names(cli: Cli) -> None:
    cli.push(ADDER)
    sweep = cli.submit("adder", "epsilon=0.001", "--name", "first")[0]
    cli.push(ADDER)
    run_file = cli.tmp / "sweep.json"
    run_file.write_text(
        json.dumps({"workflow": "adder", "params": {"epsilon": {"values": [0.01, 0.1]}}})
    )
    other = cli.submit(str(run_file))[0]

    def found(text: str) -> list[str]:
        return [r["id"] for r in cli("get", "runs", "--text", text, "--json").json()]

    assert found("epsilon=0.01") == [other]
    assert found("epsilon=0.001") == [sweep]
    assert found("epsilon=0.5") == []
    assert found("epsilon=0.1") == [other]  # a child name ('epsilon=0.1') or its value
    assert set(found("epsilon")) == {sweep, other}


# -- 5. retention ------------------------------------------------------------------------------------


def test_gc_keeps_the_last_runs_and_frees_what_only_old_runs_used(cli: Cli) -> None:
    cli.push(
        {
            "id": "table",
            "params": [{"name": "rows", "kind": "integer", "default_value": 3}],
            "graph": [
                {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}}
            ],
        }
    )
    old = cli.submit("table", "rows=50", "--seed=1")[0]
    new = cli.submit("table", "rows=4", "--seed=2")[0]
    cli.execute()
    dry = cli("gc", "--keep-last", "1", "--dry-run", "--json").json()
    assert dry["dry_run"] is True and dry["runs"] == [old] and dry["runs_deleted"] == 1
    assert dry["cache_entries"] == 1 and dry["files"] == 1 and dry["bytes"] > 0
    assert {r["id"] for r in cli("get", "runs", "--json").json()} == {old, new}  # nothing gone

    shown = cli("gc", "--keep-last", "1").out
    assert "Deleted 1 runs" in shown and "1 cache entries, 1 artifact files" in shown
    assert [r["id"] for r in cli("get", "runs", "--json").json()] == [new]
    again = cli("gc", "--keep-last", "1", "--json").json()
    assert again["runs"] == [] and again["files"] == 0
    # the kept run's output is intact and still a cache hit
    with cli.client() as client:
        table = client.dataset(
            json.loads(client.node(new, "Table").outputs or "{}")["data"]["value"]
        )
    assert table.num_rows == 4
    assert cli("gc", "--older-than", "30d", "--json").json()["runs"] == []  # all are new
    assert cli("gc", "--older-than", "0s", "--json").json()["runs"] == [new]
    bad = cli("gc", "--older-than", "soon", code=1)
    assert "30d" in bad.err


# -- 6. shell completion ---------------------------------------------------------------------------


def test_bash_completion_completes_commands_words_and_flags(cli: Cli) -> None:
    import shutil
    import subprocess

    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = cli("completion", "bash").out
    (cli.tmp / "accio.bash").write_text(script)

    def complete(*words: str) -> list[str]:
        probe = (
            f"source {cli.tmp / 'accio.bash'}; COMP_WORDS=({' '.join(words)}); "
            f"COMP_CWORD={len(words) - 1}; _accio; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("accio", "ge") == ["get"]
    assert set(complete("accio", "get", "run")) == {"run", "runs"}
    assert complete("accio", "gc", "--keep") == ["--keep-last"]
    assert "--datasets" in complete("accio", "export", "--d")
    assert "zsh" in complete("accio", "completion", "")
    assert "bashcompinit" in cli("completion", "zsh").out
    fish = cli("completion", "fish").out
    assert "__fish_seen_subcommand_from wait" in fish


# -- 8. accio new operator ----------------------------------------------------------------------------


def test_new_operator_generates_a_plugin_that_tests_and_runs(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    made = cli("new", "operator", "JitterTraces", "--dir", str(cli.tmp / "plugins"), "--json")
    root = Path(made.json()["directory"])
    assert (root / "pyproject.toml").read_text().count('"accio.operators"') == 1
    assert "ctx.trace_rng" in (root / "accio_jitter_traces" / "plugin.py").read_text()
    cli("new", "operator", "JitterTraces", "--dir", str(cli.tmp / "plugins"), code=1)
    cli("new", "operator", "lower_case", code=1)

    # its own test passes, run by pytest in a subprocess (nothing pip-installed)
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout

    # and a tiny workflow runs it through the CLI, with the plugin on sys.path
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv(
        "ACCIO_PLUGINS", "accio.testing:operators,accio_jitter_traces.plugin:operators"
    )
    cli.push(
        {
            "id": "jitter",
            "graph": [
                {"op": "RandomTable", "name": "Table", "inputs": {"rows": 4}},
                {
                    "op": "JitterTraces",
                    "name": "Jitter",
                    "inputs": {"data": {"reference": "Table/data"}, "scale": 0.5},
                },
            ],
        }
    )
    run = cli.submit("jitter")[0]
    cli.execute()
    assert cli("wait", run, "--json").json()["success"] is True
