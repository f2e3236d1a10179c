"""The tuner (accio.client.tuning) on location-privacy workflows run through the engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from accio.client.client import Client
from accio.client.tuning import (
    Constraint,
    Evaluation,
    Objective,
    Param,
    TuneSpec,
    choose_best,
    pareto_front,
    tune,
)
from accio.client.tuning.check import check_against_workflow
from accio.config import Settings
from accio.errors import DefinitionError
from accio_locapriv.baselines import S2Cloaking
from accio_locapriv.metrics import SpatialDistortion
from accio_locapriv.synthetic import generate_traces

pytest.importorskip("optuna")

BOUND_M = 60.0


def _workflow(url: str) -> dict[str, Any]:
    return {
        "id": "tune_snap",
        "params": [{"name": "level", "kind": "integer", "default_value": 15}],
        "graph": [
            {"op": "EventSource", "name": "Source", "inputs": {"url": url, "kind": "parquet"}},
            {"op": "S2Cloaking", "name": "Snap",
             "inputs": {"level": {"param": "level"}, "data": {"reference": "Source/data"}}},
            {"op": "SpatialDistortion", "name": "Distortion",
             "inputs": {"interpolate": False, "train": {"reference": "Source/data"},
                        "test": {"reference": "Snap/data"}}},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    events, _ = generate_traces(4, 1, 300_000, 10.0, (45.76, 4.84), seed=5)
    path = tmp_path_factory.mktemp("tune") / "traces.parquet"
    pq.write_table(events, path)
    return path, events


class Session:
    """A client on a fresh home whose runs execute in this process (no scheduler process)."""

    def __init__(self, home: Path) -> None:
        env = {**os.environ, "ACCIO_HOME": str(home), "ACCIO_CPUS": "1"}
        self.client = Client(settings=Settings.from_env(env), autostart=False)
        self.waits = 0
        self.interrupt_at: int | None = None

    def wait(self, run_id: str) -> Any:
        self.waits += 1
        if self.interrupt_at is not None and self.waits == self.interrupt_at:
            raise KeyboardInterrupt  # the user stops the tuner while a run is pending
        self.client.execute("local", timeout=600)
        return self.client.wait(run_id)


def _oracle(run_op, events) -> int:
    """The coarsest S2 level whose snapping keeps the mean distortion within the bound."""
    feasible = []
    for level in range(4, 25):
        snapped = run_op(S2Cloaking, {"level": level, "data": events})["data"]
        d = run_op(SpatialDistortion, {"interpolate": False, "train": events, "test": snapped})
        if d["meanDistortion"] <= BOUND_M:
            feasible.append(level)
    assert feasible and feasible == list(range(feasible[0], 25))  # monotone in the level
    assert 8 < feasible[0] < 22
    return feasible[0]


SPACE = [Param("level", "int", 4, 24)]
OBJECTIVES = [Objective.parse("minimize:level")]
CONSTRAINTS = [Constraint.parse(f"Distortion/meanDistortion <= {BOUND_M}")]


def test_tuner_finds_the_known_optimum(tmp_path, data, run_op) -> None:
    path, events = data
    best_level = _oracle(run_op, events)
    s = Session(tmp_path / "home")
    with s.client:
        result = tune(
            s.client,
            _workflow(str(path)),
            space=SPACE,
            objectives=OBJECTIVES,
            constraints=CONSTRAINTS,
            budget=12,  # of 21 levels
            seed=3,
            wait=s.wait,
        )
    assert len(result.evaluations) == 12 and result.submitted == 12
    assert result.best is not None and result.best.params["level"] == best_level
    best = result.best
    assert best.feasible and best.metrics["Distortion/meanDistortion"] <= BOUND_M
    # Every evaluation is a distinct configuration, and infeasible ones are flagged as such.
    levels = [e.params["level"] for e in result.evaluations]
    assert len(set(levels)) == len(levels)
    assert all(e.feasible == (e.params["level"] >= best_level) for e in result.evaluations)
    assert "Best: #" in result.summary()


def test_interrupted_study_resumes_without_reexecuting(tmp_path, data) -> None:
    path, _ = data
    storage = tmp_path / "study.journal"
    s1 = Session(tmp_path / "home")
    s1.interrupt_at = 4  # three evaluations finish, the fourth run is submitted, then ^C
    kwargs: dict[str, Any] = {
        "space": SPACE,
        "objectives": OBJECTIVES,
        "constraints": CONSTRAINTS,
        "budget": 6,
        "seed": 1,
        "study": storage,
    }
    with s1.client, pytest.raises(KeyboardInterrupt):
        tune(s1.client, _workflow(str(path)), wait=s1.wait, **kwargs)
    s2 = Session(tmp_path / "home")
    with s2.client:
        done = tune(s2.client, _workflow(str(path)), wait=s2.wait, **kwargs)
        runs = [e.run_id for e in done.evaluations]
        # 3 finished before, the interrupted one completed from its pending run: 2 new runs.
        assert done.submitted == 2
        assert len(done.evaluations) == 6 and len(set(runs)) == 6
        # No node ran twice: the source ran once for the whole study, cached afterwards.
        executed = [
            n.name
            for r in runs
            for n in s2.client.nodes(r)
            if n.state == "success" and n.cache_source in (None, r)
        ]
        assert sorted(executed) == sorted(["Source"] + ["Snap", "Distortion"] * 6)
    # A third session has nothing left to do.
    s3 = Session(tmp_path / "home")
    with s3.client:
        again = tune(s3.client, _workflow(str(path)), wait=s3.wait, **kwargs)
    assert again.submitted == 0 and s3.waits == 0
    assert [e.to_dict() for e in again.evaluations] == [e.to_dict() for e in done.evaluations]


def test_repeated_proposals_are_memoized(tmp_path, data) -> None:
    path, _ = data
    s = Session(tmp_path / "home")
    with s.client:
        result = tune(
            s.client,
            _workflow(str(path)),
            space=[Param.parse("level", {"choices": [12, 16]})],
            objectives=[Objective.parse("min:Distortion/meanDistortion")],
            budget=2,
            seed=0,
            sampler="random",
            wait=s.wait,
        )
    assert result.submitted == 2
    assert result.best is not None and result.best.params["level"] == 16


def test_spec_parsing(tmp_path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        '{"workflow": "wf", "space": {"epsilon": {"low": 1e-4, "high": 1, "log": true},'
        ' "alpha": {"low": 50, "high": 500, "type": "float", "unit": "meters"}},'
        ' "objectives": ["min:epsilon"], "constraints": ["D/meanDistortion <= 300"],'
        ' "budget": 7, "study": "out/s.journal"}'
    )
    s = TuneSpec.load(spec)
    assert s.workflow == "wf" and s.budget == 7 and s.study == tmp_path / "out" / "s.journal"
    assert s.space[0] == Param("epsilon", "float", 1e-4, 1.0, log=True)
    assert s.space[1].literal(120.0) == "120.0.meters"
    assert s.constraints == [Constraint("D/meanDistortion", "<=", 300.0)]
    assert Constraint.parse("x/y >= 0.5").violation(0.25) == 0.25
    assert Param.parse("k", {"low": 2, "high": 10, "step": 2}).size == 5
    with pytest.raises(ValueError, match="direction"):
        Objective.parse("sideways:x/y")
    with pytest.raises(ValueError, match="unknown key"):
        Param.parse("x", {"lo": 1})
    spec.write_text('{"workflow": 3, "space": {}, "objectives": [], "repeat": -1}')
    with pytest.raises(DefinitionError) as info:
        TuneSpec.load(spec)
    assert [p.render() for p in info.value.errors] == [
        f"{spec}: workflow: expected a workflow file or a pushed workflow id",
        f"{spec}: space: empty: name at least one parameter to tune",
        f"{spec}: objectives: empty: state at least one",
        f"{spec}: repeat: expected an integer >= 1, got -1",
    ]


def _ev(number: int, values: list[float], feasible: bool = True) -> Evaluation:
    violations = [0.0 if feasible else 1.0]
    return Evaluation(number, {"n": number}, values, {}, violations, None, "success")


def test_pareto_front_and_the_recommended_point() -> None:
    objectives = [Objective("a/x", "minimize"), Objective("a/y", "maximize")]
    evaluations = [
        _ev(0, [1.0, 1.0]),
        _ev(1, [2.0, 5.0]),
        _ev(2, [2.0, 4.0]),  # dominated by 1
        _ev(3, [4.0, 6.0]),
        _ev(4, [0.0, 9.0], feasible=False),  # would dominate all, but violates a constraint
        _ev(5, [2.0, 5.0]),  # equal to 1: kept
    ]
    front = pareto_front(evaluations, objectives)
    assert [e.number for e in front] == [0, 1, 5, 3]
    # Scaled to [0, 1] over the front, (2, 5) is closest to the ideal (1, 6).
    best = choose_best(evaluations, objectives)
    assert best is not None and best.number == 1
    single = [_ev(0, [3.0]), _ev(1, [2.0]), _ev(2, [2.0])]
    assert choose_best(single, objectives[:1]) is single[1]  # the earliest of equals
    infeasible = [_ev(0, [1.0, 1.0], feasible=False)]
    assert pareto_front(infeasible, objectives) == []
    assert choose_best(infeasible, objectives) is infeasible[0]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tune"


@pytest.mark.parametrize("name", ["tune.json", "pareto.json"])
def test_example_specs_are_valid_against_their_workflow(tmp_path, name) -> None:
    spec = TuneSpec.load(EXAMPLES / name)
    assert spec.study is not None and spec.study.parent == EXAMPLES / "out"
    with Session(tmp_path / "home").client as client:
        record, _ = client.push(spec.workflow)
        params = {**spec.params, "url": "/data/traces.parquet"}
        check_against_workflow(
            client, record.id, spec.space, spec.objectives, spec.constraints, params
        )
        with pytest.raises(DefinitionError, match="no parameter 'eps'"):
            check_against_workflow(
                client, record.id, [Param("eps", "float", 0.1, 1.0)], spec.objectives, [], params
            )


#: The README's "Location-privacy operators" table, in pipeline order of the categories.
CATEGORIES = ("source", "transform", "lppm", "metric")
README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- locapriv-operators: begin -->", "<!-- locapriv-operators: end -->"


def operator_table() -> str:
    """The table generated from the plugin's registry (``accio get operators``): one row per
    operator, by category then name. ``python tests/locapriv/test_tune.py`` prints it."""
    from accio.ops.api import spec_of
    from accio_locapriv.plugin import operators

    specs = [spec_of(op) for op in operators()]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    specs.sort(key=lambda s: (order.get(s.category, len(order)), s.category, s.name))
    rows = ["| Category | Operator | Seeded | What it does |", "|---|---|---|---|"]
    previous = None
    for s in specs:
        category = s.category if s.category != previous else ""
        previous = s.category
        rows.append(f"| {category} | `{s.name}` | {'yes' if s.unstable else ''} | {s.help} |")
    return "\n".join(rows)


def test_readme_lists_every_locapriv_operator() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == operator_table(), "update README: python tests/locapriv/test_tune.py"


if __name__ == "__main__":
    print(operator_table())
