"""Automatic configuration tuning on top of ordinary runs (an ALP-style tuner with Optuna).

A tuning study searches a workflow's parameters for the configuration that optimises one or more
**objectives** under **constraints**, both stated on the outputs of its nodes (``"Node/port"``,
the columns of :meth:`results`) or on its parameters: "the smallest epsilon whose spatial
distortion stays below 300 m", "the POI F-score at most 0.1 with the least distortion". Every
evaluation is an ordinary run submitted through the client (``push``, ``submit``, ``wait``,
``results`` only), with one run seed for the whole study, so:

* an evaluation is memoized like any run: the nodes it shares with earlier evaluations (the
  source, splits, POIs of the original data) are cache hits, and a configuration proposed twice
  costs nothing the second time (the tuner does not even submit it again);
* configurations are compared under common random numbers (same run seed);
* a study is **resumable**: with a ``storage`` file (an Optuna journal), finished evaluations are
  never executed again, and an evaluation that was interrupted after its run was submitted is
  completed by waiting for that same run.

The search is Optuna's TPE sampler (Bergstra et al., NeurIPS 2011; constrained variant of
Watanabe & Hutter, 2023) seeded by the study seed, or random search. The idea of stating
objectives as metric constraints and searching an LPPM's parameter space is ALP (Primault,
Boutet, Ben Mokhtar, Brunie, "Adaptive location privacy with ALP", SRDS 2016).

The CLI command ``accio tune SPEC.json [--storage FILE] [--budget N]`` should call
:func:`tune_from_file` with a :class:`~accio.client.client.Client` and print
:meth:`TuneResult.summary` (``--json``: :meth:`TuneResult.to_dict`). Optuna is an optional
dependency (``pip install accio[tune]``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = [
    "Constraint",
    "Evaluation",
    "Objective",
    "Param",
    "TuneResult",
    "TuneSpec",
    "tune",
    "tune_from_file",
]


class TunableClient(Protocol):
    """What the tuner needs of a client: the four calls of the client contract it uses."""

    def push(self, source: Any) -> Any: ...

    def submit(self, run: Any) -> Any: ...

    def wait(self, run_id: str) -> Any: ...

    def results(self, run_id: str) -> Any: ...


@dataclass(frozen=True)
class Param:
    """One dimension of the search space.

    ``kind`` is ``"float"`` (``low``..``high``, optionally ``log``), ``"int"`` (``low``..``high``
    with ``step``, optionally ``log``) or ``"categorical"`` (``choices``). A ``unit`` (e.g.
    ``"meters"``, ``"minutes"``) makes values typed workflow literals such as ``"250.0.meters"``.
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int = 1
    choices: tuple[Any, ...] = ()
    unit: str | None = None

    @classmethod
    def parse(cls, name: str, spec: Mapping[str, Any]) -> Param:
        """From JSON: ``{"low": 1e-4, "high": 1, "log": true}``, ``{"low": 10, "high": 18,
        "type": "int"}``, ``{"choices": ["a", "b"]}``; optional ``"unit"``."""
        unknown = set(spec) - {"low", "high", "log", "step", "type", "choices", "unit"}
        if unknown:
            raise ValueError(f"space.{name}: unknown key(s) {sorted(unknown)}")
        if "choices" in spec:
            choices = tuple(spec["choices"])
            if not choices:
                raise ValueError(f"space.{name}: choices must not be empty")
            return cls(name, "categorical", choices=choices, unit=spec.get("unit"))
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"space.{name}: give low and high, or choices")
        kind = spec.get("type") or (
            "int" if isinstance(spec["low"], int) and isinstance(spec["high"], int) else "float"
        )
        if kind not in ("int", "float"):
            raise ValueError(f"space.{name}: type must be int or float, got {kind!r}")
        low, high = float(spec["low"]), float(spec["high"])
        log = bool(spec.get("log", False))
        if not low <= high or (log and low <= 0):
            raise ValueError(f"space.{name}: need low <= high (and low > 0 with log)")
        return cls(name, kind, low, high, log, int(spec.get("step", 1)), unit=spec.get("unit"))

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value of this parameter (a plain number or choice)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            step = 1 if self.log else self.step
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def literal(self, value: Any) -> Any:
        """The value as a workflow parameter value."""
        if self.unit is None:
            return value
        return f"{float(value)!r}.{self.unit}"


_DIRECTIONS = {
    "min": "minimize",
    "minimize": "minimize",
    "max": "maximize",
    "maximize": "maximize",
}


@dataclass(frozen=True)
class Objective:
    """Minimise or maximise a metric (``"Node/port"``) or a parameter (its name)."""

    metric: str
    direction: str = "minimize"

    @classmethod
    def parse(cls, text: str | Mapping[str, Any]) -> Objective:
        """From ``"minimize:Distortion/meanDistortion"``, ``"max:epsilon"`` or
        ``{"metric": ..., "direction": ...}``."""
        if isinstance(text, Mapping):
            direction, metric = str(text.get("direction", "minimize")), str(text["metric"])
        else:
            direction, sep, metric = text.partition(":")
            if not sep:
                raise ValueError(f"objective {text!r}: expected 'minimize:METRIC'")
        if direction.strip() not in _DIRECTIONS:
            raise ValueError(f"objective {text!r}: direction must be minimize or maximize")
        return cls(metric.strip(), _DIRECTIONS[direction.strip()])


_CONSTRAINT = re.compile(r"^\s*(?P<metric>[^<>=\s]+)\s*(?P<op><=|>=)\s*(?P<bound>\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound`` (a metric ``"Node/port"`` or a parameter)."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str | Mapping[str, Any]) -> Constraint:
        """From ``"Distortion/meanDistortion <= 300"`` or ``{"metric", "op", "bound"}``."""
        if isinstance(text, Mapping):
            out = cls(str(text["metric"]), str(text.get("op", "<=")), float(text["bound"]))
        else:
            m = _CONSTRAINT.match(text)
            if m is None:
                raise ValueError(f"constraint {text!r}: expected 'METRIC <= BOUND' or '>='")
            out = cls(m["metric"], m["op"], float(m["bound"]))
        if out.op not in ("<=", ">="):
            raise ValueError(f"constraint {text!r}: op must be <= or >=")
        return out

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when satisfied, the amount of violation otherwise."""
        return value - self.bound if self.op == "<=" else self.bound - value


@dataclass
class Evaluation:
    """One evaluated configuration."""

    number: int
    params: dict[str, Any]
    values: list[float]
    metrics: dict[str, float]
    violations: list[float]
    run_id: str | None
    state: str

    @property
    def feasible(self) -> bool:
        return self.state == "success" and all(v <= 0 for v in self.violations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": self.params,
            "values": self.values,
            "metrics": self.metrics,
            "feasible": self.feasible,
            "run_id": self.run_id,
            "state": self.state,
        }


@dataclass
class TuneResult:
    """A study's evaluations and its best ones (one, or the Pareto front for several
    objectives), feasible ones first: if none satisfies the constraints, the least violating."""

    objectives: list[Objective]
    constraints: list[Constraint]
    evaluations: list[Evaluation]
    best: list[Evaluation]
    submitted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "objectives": [o.__dict__ for o in self.objectives],
            "constraints": [c.__dict__ for c in self.constraints],
            "best": [e.to_dict() for e in self.best],
            "evaluations": [e.to_dict() for e in self.evaluations],
            "submitted": self.submitted,
        }

    def summary(self) -> str:
        lines = [
            f"{len(self.evaluations)} evaluation(s), {self.submitted} run(s) submitted "
            "in this session",
        ]
        for e in self.best:
            flag = "" if e.feasible else "  (no configuration satisfies the constraints)"
            params = ", ".join(f"{k}={v!r}" for k, v in e.params.items())
            metrics = ", ".join(f"{o.metric}={e.metrics.get(o.metric)!r}" for o in self.objectives)
            lines.append(f"best #{e.number}: {params} -> {metrics}, run {e.run_id}{flag}")
        return "\n".join(lines)


@dataclass
class TuneSpec:
    """A tuning study as a JSON document (``accio tune SPEC.json``).

    Keys: ``workflow`` (a file, relative to the spec, or a pushed workflow id), ``params``
    (fixed parameter values), ``space`` (name -> :meth:`Param.parse` spec), ``objectives``
    (list of :meth:`Objective.parse` texts), ``constraints`` (list of :meth:`Constraint.parse`
    texts), ``budget``, ``seed``, ``repeat``, ``sampler`` (``tpe`` or ``random``), ``study``.
    """

    workflow: str | Path | Mapping[str, Any]
    space: list[Param]
    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    budget: int = 20
    seed: int = 0
    repeat: int = 1
    sampler: str = "tpe"
    study: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> TuneSpec:
        path = Path(path)
        doc = json.loads(path.read_text())
        known = {"workflow", "params", "space", "objectives", "constraints", "budget", "seed"}
        known |= {"repeat", "sampler", "study", "name", "notes"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}")
        workflow = doc["workflow"]
        if isinstance(workflow, str) and (path.parent / workflow).is_file():
            workflow = path.parent / workflow
        return cls(
            workflow=workflow,
            space=[Param.parse(k, v) for k, v in doc["space"].items()],
            objectives=[Objective.parse(o) for o in doc["objectives"]],
            constraints=[Constraint.parse(c) for c in doc.get("constraints", [])],
            params=dict(doc.get("params", {})),
            budget=int(doc.get("budget", 20)),
            seed=int(doc.get("seed", 0)),
            repeat=int(doc.get("repeat", 1)),
            sampler=str(doc.get("sampler", "tpe")),
            study=doc.get("study"),
        )


def _workflow_id(client: TunableClient, workflow: str | Path | Mapping[str, Any]) -> str:
    """Push a workflow file or document; a bare id names an already pushed workflow."""
    if isinstance(workflow, Mapping) or Path(workflow).is_file():
        record, _ = client.push(workflow)
        return str(record.id)
    return str(workflow)


def _mean(values: Sequence[Any]) -> float:
    nums = [float(v) for v in values if v is not None and not _is_nan(v)]
    if not nums:
        return math.nan
    return sum(nums) / len(nums)


def _is_nan(v: Any) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def tune(
    client: TunableClient,
    workflow: str | Path | Mapping[str, Any],
    *,
    space: Sequence[Param],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
    budget: int,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    repeat: int = 1,
    sampler: str = "tpe",
    storage: str | Path | None = None,
    study_name: str | None = None,
    wait: Callable[[str], Any] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
) -> TuneResult:
    """Search ``space`` for the configuration optimising ``objectives`` under ``constraints``.

    Parameters
    ----------
    client : Client
        Any client with ``push``, ``submit``, ``wait`` and ``results``.
    workflow : path, document or id
        The workflow to tune (pushed first unless an id is given).
    space : sequence of Param
        The tuned parameters.
    objectives, constraints : sequences
        Over ``"Node/port"`` result columns (averaged over a run's repeats) or parameters.
    budget : int
        Distinct configurations to evaluate in the study (counting those finished in earlier
        sessions of a stored study).
    params : mapping, optional
        Fixed values of the other workflow parameters.
    seed : int, default 0
        Run seed of every evaluation and seed of the sampler.
    repeat : int, default 1
        Runs per configuration (the metrics are averaged).
    sampler : {"tpe", "random"}
        Optuna's TPE (constraint-aware) or random search.
    storage : path, optional
        Optuna journal file making the study resumable; without it, the study lives in memory.
    study_name : str, optional
        Default ``accio-tune/<workflow id>``.
    wait : callable, optional
        ``wait(run_id)`` until the run is finished; default ``client.wait``.
    on_evaluation : callable, optional
        Called after every finished evaluation (progress).

    Notes
    -----
    One tuner per stored study at a time: on start, trials a previous session left running are
    completed from their submitted runs (or dropped if they had none).
    """
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    if budget < 1 or not objectives:
        raise ValueError("a study needs a budget >= 1 and at least one objective")
    space = list(space)
    objectives = list(objectives)
    constraints = list(constraints)
    fixed = dict(params or {})
    wait = wait or client.wait
    wf_id = _workflow_id(client, workflow)
    names = {p.name for p in space}

    def constraints_func(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
        return list(trial.user_attrs.get("violations", [1.0] * len(constraints)))

    # Optuna >= 5 reads constraints set on the trial; older versions call constraints_func.
    trial_constraints = hasattr(optuna.trial.Trial, "set_constraint")
    kwargs: dict[str, Any] = {"seed": seed}
    if constraints and not trial_constraints:
        kwargs["constraints_func"] = constraints_func
    if sampler == "tpe":
        chosen: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(**kwargs)
    elif sampler == "random":
        chosen = optuna.samplers.RandomSampler(seed=seed)
    else:
        raise ValueError(f"unknown sampler {sampler!r}: expected 'tpe' or 'random'")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store: Any = None
    if storage is not None:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        store = JournalStorage(JournalFileBackend(str(storage)))
    study = optuna.create_study(
        study_name=study_name or f"accio-tune/{wf_id}",
        storage=store,
        load_if_exists=True,
        directions=[optuna.study.StudyDirection[o.direction.upper()] for o in objectives],
        sampler=chosen,
    )

    def run_params(values: Mapping[str, Any]) -> dict[str, Any]:
        by_name = {p.name: p for p in space}
        return {**fixed, **{k: by_name[k].literal(v) for k, v in values.items()}}

    def measure(values: Mapping[str, Any], run_id: str) -> tuple[str, dict[str, float]]:
        record = wait(run_id)
        state = str(getattr(record, "state", "success"))
        if state != "success":
            return state, {}
        table = client.results(run_id)
        rows = table.to_pylist() if hasattr(table, "to_pylist") else list(table)
        metrics: dict[str, float] = {}
        for m in {*(o.metric for o in objectives), *(c.metric for c in constraints)}:
            if m in names:
                metrics[m] = float(values[m])
            elif m in fixed:
                metrics[m] = float(fixed[m])
            elif rows and m in rows[0]:
                metrics[m] = _mean([r.get(m) for r in rows])
            else:
                raise KeyError(f"no result column {m!r} in run {run_id} (expected 'Node/port')")
        return state, metrics

    def finish(trial_id: int, number: int, values: Mapping[str, Any], run_id: str) -> None:
        state, metrics = measure(values, run_id)
        bad = state != "success" or any(math.isnan(v) for v in metrics.values())
        violations = (
            [math.inf] * len(constraints)
            if bad
            else [c.violation(metrics[c.metric]) for c in constraints]
        )
        # Optuna's storage API: a resumed trial has no live Trial object, only its id.
        study._storage.set_trial_user_attr(trial_id, "violations", violations)
        study._storage.set_trial_user_attr(trial_id, "metrics", metrics)
        if trial_constraints:
            live = optuna.trial.Trial(study, trial_id)
            for i, v in enumerate(violations):
                live.set_constraint(f"c{i}", v)
        if bad:
            study.tell(number, state=TrialState.FAIL)
        else:
            study.tell(number, [metrics[o.metric] for o in objectives])
        if on_evaluation is not None:
            on_evaluation(_evaluation(study.trials[number]))

    # Trials a previous session left running: complete them from their runs (no new execution).
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = t.user_attrs.get("run_id")
        if run_id is None:
            study.tell(t.number, state=TrialState.FAIL)
        else:
            finish(t._trial_id, t.number, t.params, str(run_id))

    def finished() -> list[optuna.trial.FrozenTrial]:
        states = (TrialState.COMPLETE, TrialState.FAIL)
        return [
            t for t in study.get_trials(deepcopy=False, states=states) if "run_id" in t.user_attrs
        ]

    submitted = 0
    attempts = 0
    while len(finished()) < budget and attempts < 20 * budget:
        attempts += 1
        trial = study.ask()
        values = {p.name: p.suggest(trial) for p in space}
        seen = next((t for t in finished() if t.params == values), None)
        if seen is not None:  # proposed again: memoized, told without a run, not in the budget
            trial.set_user_attr("duplicate_of", seen.number)
            trial.set_user_attr("violations", seen.user_attrs.get("violations", []))
            if trial_constraints:
                for i, v in enumerate(seen.user_attrs.get("violations", [])):
                    trial.set_constraint(f"c{i}", v)
            if seen.state == TrialState.COMPLETE:
                study.tell(trial, seen.values)
            else:
                study.tell(trial, state=TrialState.FAIL)
            continue
        run = {"workflow": wf_id, "seed": seed, "repeat": repeat, "params": run_params(values)}
        sub = client.submit(run)
        submitted += 1
        trial.set_user_attr("run_id", sub.run_id)
        finish(trial._trial_id, trial.number, values, sub.run_id)

    evaluations = [_evaluation(t) for t in finished()]
    return TuneResult(
        objectives, constraints, evaluations, _best(evaluations, objectives), submitted
    )


def _evaluation(t: optuna.trial.FrozenTrial) -> Evaluation:
    values = list(t.values) if t.values is not None else []
    return Evaluation(
        number=t.number,
        params=dict(t.params),
        values=values,
        metrics=dict(t.user_attrs.get("metrics", {})),
        violations=list(t.user_attrs.get("violations", [])),
        run_id=t.user_attrs.get("run_id"),
        state="success" if t.state.name == "COMPLETE" else "failure",
    )


def _best(evaluations: list[Evaluation], objectives: list[Objective]) -> list[Evaluation]:
    """The best feasible evaluation(s); else the least violating one."""
    done = [e for e in evaluations if e.state == "success"]
    feasible = [e for e in done if e.feasible]
    sign = [1.0 if o.direction == "minimize" else -1.0 for o in objectives]
    if not feasible:
        if not done:
            return []
        return [min(done, key=lambda e: (sum(max(v, 0.0) for v in e.violations), e.number))]

    def key(e: Evaluation) -> list[float]:
        return [s * v for s, v in zip(sign, e.values, strict=True)]

    if len(objectives) == 1:
        return [min(feasible, key=lambda e: (key(e), e.number))]
    front = [
        e
        for e in feasible
        if not any(
            all(a <= b for a, b in zip(key(o), key(e), strict=True)) and key(o) != key(e)
            for o in feasible
        )
    ]
    return sorted(front, key=lambda e: (key(e), e.number))


def tune_from_file(
    client: TunableClient,
    spec: str | Path,
    *,
    storage: str | Path | None = None,
    budget: int | None = None,
    params: Mapping[str, Any] | None = None,
    wait: Callable[[str], Any] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
) -> TuneResult:
    """Run the study described by a :class:`TuneSpec` JSON file (what ``accio tune`` calls);
    ``budget`` and ``params`` (merged over the spec's) override the file."""
    s = TuneSpec.load(spec)
    return tune(
        client,
        s.workflow,
        space=s.space,
        objectives=s.objectives,
        constraints=s.constraints,
        budget=budget if budget is not None else s.budget,
        params={**s.params, **(params or {})},
        seed=s.seed,
        repeat=s.repeat,
        sampler=s.sampler,
        storage=storage,
        study_name=s.study,
        wait=wait,
        on_evaluation=on_evaluation,
    )
