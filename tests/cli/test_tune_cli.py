"""``accio tune`` end to end: in-process ``main`` on a temporary home with the test operators,
evaluations executed by the background scheduler (stopped after each test).

* a known optimum is found within the budget, and every evaluation is an ordinary tagged run;
* a study continued with a larger budget on the same journal re-executes no finished evaluation;
* with two objectives the Pareto front is reported (text and ``--json``);
* malformed specs exit 2 naming file, field and reason; no traceback; Optuna is loaded only by
  ``accio tune``, and its absence is a one-line install hint (exit 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import InProcess, use_home

from accio.cli.main import main
from accio.client.local import LocalClient

pytest.importorskip("optuna")

#: Sum = x + b: the constraint Sum/sum >= 7.5 with b = 0.5 makes x = 7 the smallest feasible x.
WORKFLOW: dict[str, Any] = {
    "id": "shift",
    "params": [
        {"name": "x", "kind": "double", "default_value": 0.0},
        {"name": "b", "kind": "double", "default_value": 0.0},
    ],
    "graph": [
        {"op": "Number", "name": "Base", "inputs": {"value": {"param": "x"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "Base/value"}, "b": {"param": "b"}},
        },
    ],
}
SPEC: dict[str, Any] = {
    "name": "smallest x with x + b >= 7.5",
    "workflow": "shift.json",
    "params": {"b": 0.5},
    "space": {"x": {"low": 0, "high": 20}},
    "objectives": ["minimize:x"],
    "constraints": ["Sum/sum >= 7.5"],
    "budget": 12,
    "seed": 3,
}


@dataclass
class Env(InProcess):
    root: Path
    capsys: pytest.CaptureFixture[str]

    def spec(self, name: str = "spec.json", **changes: Any) -> str:
        doc = {**SPEC, **changes}
        (self.root / name).write_text(json.dumps({k: v for k, v in doc.items() if v is not None}))
        return name


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Env]:
    use_home(monkeypatch, tmp_path / "home", ACCIO_CPUS="1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shift.json").write_text(json.dumps(WORKFLOW))
    e = Env(tmp_path, capsys)
    try:
        yield e
    finally:
        main(["server", "stop"])


def executed(client: LocalClient, run_ids: list[str]) -> list[str]:
    """Nodes that really ran (not served from the cache), ``NODE@x`` for each."""
    names = []
    for run_id in run_ids:
        x = client.run(run_id).params
        for n in client.nodes(run_id):
            if n.state == "success" and n.cache_source in (None, run_id):
                names.append(f"{n.name}@{x}")
    return names


def test_tune_finds_the_known_optimum_within_the_budget(env: Env) -> None:
    result = env("tune", env.spec(), "--json").json()
    assert len(result["evaluations"]) == 12 and result["submitted"] == 12
    assert result["best"]["params"] == {"x": 7} and result["best"]["feasible"] is True
    assert result["best"]["metrics"] == {"x": 7.0, "Sum/sum": 7.5}
    assert [e["params"] for e in result["pareto_front"]] == [{"x": 7}]
    for e in result["evaluations"]:  # infeasible ones are flagged as such
        assert e["feasible"] == (e["params"]["x"] >= 7) and e["state"] == "success"
    # Every evaluation is an ordinary run, tagged with the study, that the client lists.
    with env.client() as client:
        runs = client.runs(tags=("tune",), limit=100)
        assert sorted(r.id for r in runs) == sorted(e["run_id"] for e in result["evaluations"])
        assert all(r.state == "success" and r.name.startswith(SPEC["name"] + " #") for r in runs)
        tag = "tune-" + result["study"].rsplit("/", 1)[1]
        assert all(tag in r.tags for r in runs)
    text = env("tune", env.spec(), "--quiet")  # in memory again: everything is a cache hit
    assert "Best: #" in text.out and "x=7 -> Sum/sum=7.5" in text.out
    shifted = env("tune", env.spec(), "b=2.5", "--quiet")  # name=value fixes a parameter
    assert "Best: #" in shifted.out and "x=5 -> Sum/sum=7.5" in shifted.out


def test_a_larger_budget_continues_the_study_without_reexecuting(env: Env) -> None:
    spec = env.spec(study="out/study.journal")
    first = env("tune", spec, "--budget", "5", "--json").json()
    assert first["submitted"] == 5 and len(first["evaluations"]) == 5
    assert Path(first["journal"]) == env.root / "out" / "study.journal"
    second = env("tune", spec, "--budget=10", "--json").json()
    assert second["submitted"] == 5 and len(second["evaluations"]) == 10
    assert second["evaluations"][:5] == first["evaluations"]
    run_ids = [e["run_id"] for e in second["evaluations"]]
    with env.client() as client:
        assert client.count_runs(tags=("tune",)) == 10 == len(set(run_ids))
        ran = executed(client, run_ids)
    assert len(ran) == 20 == len(set(ran))  # Base and Sum once per configuration, never twice
    third = env("tune", spec, "--budget", "10", "--json").json()
    assert third["submitted"] == 0 and third["evaluations"] == second["evaluations"]
    # --study overrides the spec's journal: a new file is a new, empty study (all cache hits).
    other = env("tune", spec, "--budget", "2", "--study", "other.journal", "--json").json()
    assert other["submitted"] == 2 and (env.root / "other.journal").is_file()


def test_two_objectives_give_the_pareto_front(env: Env) -> None:
    spec = env.spec(
        space={"x": {"choices": [0, 1, 2]}, "b": {"choices": [0.0, 1.0]}},
        params=None,
        objectives=["min:x", {"metric": "Sum/sum", "direction": "max"}],
        constraints=None,
        budget=50,  # more than the 6 configurations: the study stops when they are exhausted
        sampler="random",
        parallel=4,  # four runs in flight at once; repeated proposals within a batch wait
    )
    result = env("tune", spec, "--json").json()
    assert len(result["evaluations"]) == 6 and result["submitted"] == 6
    front = sorted((e["params"]["x"], e["params"]["b"]) for e in result["pareto_front"])
    assert front == [(0, 1.0), (1, 1.0), (2, 1.0)]  # b = 1 dominates b = 0 at every x
    assert result["best"]["params"]["b"] == 1.0
    text = env("tune", spec, "--quiet").out
    assert "Pareto front (3 configuration(s)):" in text and text.count("  #") == 3


def test_malformed_specs_are_clean_errors(env: Env) -> None:
    bad = env.spec(
        "bad.json",
        space={"x": {"low": 5, "high": 1}, "y": {"lo": 1}},
        objectives=["sideways:x"],
        constraints=["Sum/sum << 3"],
        budget=0,
        sampler="grid",
        budgt=3,
    )
    err = env("tune", bad, code=2).err
    for expected in (
        "bad.json: space.x: low (5) is above high (1)",
        "bad.json: space.y: unknown key 'lo' (did you mean 'low'?)",
        "bad.json: objectives[0]: direction must be minimize or maximize",
        "bad.json: constraints[0]: expected 'METRIC <= BOUND'",
        "bad.json: budget: expected an integer >= 1, got 0",
        "bad.json: sampler: expected 'tpe' or 'random', got 'grid'",
        "bad.json: budgt: unknown key",
    ):
        assert expected in err, err
    # Checked against the workflow before anything runs.
    wrong = env.spec(
        "wrong.json", space={"z": {"low": 0, "high": 1}}, objectives=["min:Sum/total"]
    )
    err = env("tune", wrong, code=2).err
    assert "wrong.json: space.z: workflow 'shift' has no parameter 'z'" in err
    assert "wrong.json: objectives[0]: 'Sum/total' is neither an output" in err
    assert "node 'Sum' has output(s) sum" in err
    unknown = env.spec("unknown.json", workflow="shifty")
    assert "unknown.json: workflow: " in env("tune", unknown, code=2).err
    typed = env.spec("typed.json", space={"x": {"choices": ["a", "b"]}})
    assert "typed.json: space.x:" in env("tune", typed, code=2).err
    (env.root / "syntax.json").write_text('{"workflow": "shift.json",\n "space": }')
    assert "syntax.json: invalid JSON at line 2" in env("tune", "syntax.json", code=2).err
    assert "missing.json: file not found" in env("tune", "missing.json", code=2).err
    assert "positive integer" in env("tune", env.spec(), "--budget", "0", code=1).err
    assert "x: tuned in the space" in env("tune", env.spec(), "x=3", code=1).err
    assert "expected name=value" in env("tune", env.spec(), "b", code=1).err
    with env.client() as client:
        assert client.count_runs() == 0


def test_optuna_is_loaded_only_by_tune(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = (
        "import sys\nfrom accio.cli.main import main\n"
        "for args in (['--help'], ['help', 'tune'], ['get', 'operators']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('optuna' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "False"
    assert "tune" in done.stdout
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    err = env("tune", env.spec(), code=1).err
    assert err.strip() == "ERROR: the tuner needs Optuna, which is not installed: " + (
        "pip install 'accio[tune]'"
    )


def test_the_python_api_through_a_remote_client(env: Env) -> None:
    """The tuner needs nothing but the client contract: the same study against a server."""
    from accio.client.remote import RemoteClient
    from accio.client.tuning import Constraint, Objective, Param, tune
    from accio.server.app import create_app
    from accio.server.http import serve_in_thread

    local = env.client()
    server = serve_in_thread(create_app(client=local), "127.0.0.1", 0)
    remote = RemoteClient(server.url, timeout=30)

    def wait(run_id: str) -> Any:  # the server's home has no scheduler: run it here
        local.execute("inline")
        return remote.wait(run_id)

    try:
        result = tune(
            remote,
            WORKFLOW,
            space=[Param("x", "int", 0, 20)],
            objectives=[Objective("x", "minimize")],
            constraints=[Constraint.parse("Sum/sum >= 7.5")],
            params={"b": 0.5},
            budget=12,
            seed=3,
            wait=wait,
        )
    finally:
        remote.close()
        server.stop()
        local.close()
    assert result.submitted == 12 and result.best is not None
    assert result.best.params == {"x": 7} and result.best.feasible
