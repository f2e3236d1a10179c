"""The tuning loop: Optuna proposes configurations, Accio runs each one as an ordinary run.

Every evaluation is submitted through the client contract (``push``, ``workflow``, ``operator``,
``prepare``, ``submit``, ``wait``, ``results``), locally or against a server, with one run seed
for the whole study, so evaluations are memoized like any run (what they share is computed
once; a configuration proposed twice is not even submitted again), compared under common random
numbers, listed in ``accio get runs --tag tune`` and the web UI, and exportable.

With a journal file the study is resumable: finished evaluations are never executed again, and
one that was interrupted after its run was submitted is completed by waiting for that same run.
The study's name inside the journal is derived from what defines the search (workflow version,
space, objectives, constraints, fixed parameters, seed, repeat, sampler) but not the budget, so
raising the budget continues a study and changing its definition starts a new one.

Optuna is imported here only, on the first call: ``accio --help`` never loads it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.client.tuning.check import check_against_workflow
from accio.client.tuning.result import Evaluation, TuneResult
from accio.client.tuning.spec import Constraint, Objective, Param, TuneSpec
from accio.errors import (
    EXIT_USAGE,
    AccioError,
    DefinitionError,
    NotFoundError,
    Problem,
    RuntimeFailure,
    UsageError,
)

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from accio.client.contract import AccioClient

INSTALL_HINT = "pip install 'accio[tune]'"


class MissingDependency(AccioError):
    """An optional dependency is not installed (exit 1, with the command that installs it)."""

    exit_code = EXIT_USAGE


def import_optuna() -> Any:
    """Optuna, or a MissingDependency saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise MissingDependency(
            f"the tuner needs Optuna, which is not installed: {INSTALL_HINT}"
        ) from None
    return optuna


def tune(
    client: AccioClient,
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
    study: str | Path | None = None,
    study_name: str | None = None,
    parallel: int = 1,
    file: str | None = None,
    label: str | None = None,
    wait: Callable[[str], Any] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
) -> TuneResult:
    """Search ``space`` for the configurations optimising ``objectives`` under ``constraints``.

    ``workflow`` is a file or document (pushed first) or a pushed workflow id. Objectives and
    constraints name result columns (``"Node/port"``, averaged over a configuration's
    ``repeat`` runs) or parameters. ``budget`` counts distinct configurations in the study,
    those of earlier sessions of a ``study`` journal included; ``parallel`` runs are in flight
    at once. ``wait(run_id)`` (default ``client.wait``) blocks until a run is finished;
    ``on_evaluation`` is called after each evaluation. ``file`` names the spec in errors;
    ``label`` names the runs (``<label> #<trial>``, default the study name).
    """
    opt = import_optuna()
    from optuna.trial import TrialState

    if budget < 1 or parallel < 1 or not objectives or not space:
        raise ValueError("a study needs a space, an objective, budget >= 1 and parallel >= 1")
    if sampler not in ("tpe", "random"):
        raise ValueError(f"unknown sampler {sampler!r}: expected 'tpe' or 'random'")
    space, objectives, constraints = list(space), list(objectives), list(constraints)
    fixed = dict(params or {})
    tuned = sorted(set(fixed) & {p.name for p in space})
    if tuned:
        raise UsageError(f"{', '.join(tuned)}: tuned in the space, cannot also be fixed")
    wait = wait or client.wait
    try:
        wf_id, version = _workflow(client, workflow)
    except NotFoundError as exc:  # a bare id that was never pushed: the spec's field is wrong
        problem = Problem("workflow", f"{exc}; push it or name its file", file)
        raise DefinitionError([problem]) from None
    check_against_workflow(
        client, wf_id, space, objectives, constraints, fixed, file=file, repeat=repeat
    )
    definition = TuneSpec(
        wf_id, space, objectives, constraints, fixed, seed=seed, repeat=repeat, sampler=sampler
    ).describe()
    digest = hashlib.sha256(
        json.dumps([wf_id, version, definition], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    name = study_name or f"accio-tune/{wf_id}/{digest}"
    tag = f"tune-{digest}"

    opt.logging.set_verbosity(opt.logging.WARNING)
    trial_constraints = hasattr(opt.trial.Trial, "set_constraint")

    def constraints_func(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
        return list(trial.user_attrs.get("violations") or [1.0] * len(constraints))

    kwargs: dict[str, Any] = {"seed": seed}
    if constraints and not trial_constraints:  # Optuna < 5 reads them through a callback
        kwargs["constraints_func"] = constraints_func
    chosen = (
        opt.samplers.TPESampler(**kwargs)
        if sampler == "tpe"
        else opt.samplers.RandomSampler(seed=seed)
    )
    opt_study = opt.create_study(
        study_name=name,
        storage=_journal(study),
        load_if_exists=True,
        directions=[o.direction for o in objectives],
        sampler=chosen,
    )
    by_name = {p.name: p for p in space}

    def measure(values: Mapping[str, Any], run_id: str) -> tuple[str, dict[str, float]]:
        state = str(getattr(wait(run_id), "state", "success"))
        if state != "success":
            return state, {}
        rows = client.results(run_id).to_pylist()
        metrics: dict[str, float] = {}
        for m in dict.fromkeys(
            [*(o.metric for o in objectives), *(c.metric for c in constraints)]
        ):
            if m in by_name:
                value = _number(values[m])
            elif m in fixed:
                value = _number(fixed[m])
            else:
                value = _mean([_number(r.get(m)) for r in rows])
            if math.isnan(value):
                return "failed", metrics
            metrics[m] = value
        return state, metrics

    def record(trial_id: int, number: int, values: Mapping[str, Any], run_id: str) -> None:
        """Measure a submitted evaluation and tell Optuna (a resumed trial has only its id)."""
        state, metrics = measure(values, run_id)
        storage = opt_study._storage
        storage.set_trial_user_attr(trial_id, "metrics", metrics)
        storage.set_trial_user_attr(trial_id, "run_state", state)
        if state != "success":
            storage.set_trial_user_attr(trial_id, "violations", [])
            opt_study.tell(number, state=TrialState.FAIL)
        else:
            violations = [c.violation(metrics[c.metric]) for c in constraints]
            storage.set_trial_user_attr(trial_id, "violations", violations)
            if trial_constraints:
                live = opt.trial.Trial(opt_study, trial_id)
                for i, v in enumerate(violations):
                    live.set_constraint(f"c{i}", v)
            opt_study.tell(number, [metrics[o.metric] for o in objectives])
        if on_evaluation is not None:
            on_evaluation(_evaluation(opt_study.trials[number]))

    def copy(trial: optuna.Trial, seen: optuna.trial.FrozenTrial) -> None:
        """A configuration proposed again: told the known outcome, nothing submitted."""
        trial.set_user_attr("duplicate_of", seen.number)
        violations = seen.user_attrs.get("violations", [])
        trial.set_user_attr("violations", violations)
        if seen.state != TrialState.COMPLETE:
            opt_study.tell(trial, state=TrialState.FAIL)
            return
        if trial_constraints:
            for i, v in enumerate(violations):
                trial.set_constraint(f"c{i}", v)
        opt_study.tell(trial, seen.values)

    # Trials a previous session left running: complete them from their runs (no new execution).
    for t in opt_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = t.user_attrs.get("run_id")
        if run_id is None:
            opt_study.tell(t.number, state=TrialState.FAIL)
        else:
            record(t._trial_id, t.number, t.params, str(run_id))

    def evaluated() -> list[optuna.trial.FrozenTrial]:
        done = (TrialState.COMPLETE, TrialState.FAIL)
        trials = opt_study.get_trials(deepcopy=False, states=done)
        return [t for t in trials if "run_id" in t.user_attrs]

    sizes = [p.size for p in space]
    target = budget
    if all(s is not None for s in sizes):  # a finite space: stop once it is exhausted
        target = min(budget, math.prod(s for s in sizes if s is not None))
    submitted = attempts = 0
    while len(evaluated()) < target and attempts < 50 * budget:
        finished = {_key(t.params): t for t in evaluated()}
        batch: list[tuple[optuna.Trial, dict[str, Any], str]] = []
        repeats: list[tuple[optuna.Trial, str]] = []
        for _ in range(min(parallel, target - len(finished))):
            attempts += 1
            trial = opt_study.ask()
            values = {p.name: p.suggest(trial) for p in space}
            key = _key(values)
            if key in finished:
                copy(trial, finished[key])
                continue
            if any(key == k for _, _, k in batch):
                repeats.append((trial, key))
                continue
            run = {
                "workflow": wf_id,
                "seed": seed,
                "repeat": repeat,
                "name": f"{label or name} #{trial.number}",
                "tags": ["tune", tag],
                "params": {**fixed, **{k: by_name[k].literal(v) for k, v in values.items()}},
            }
            sub = client.submit(run)
            submitted += 1
            trial.set_user_attr("run_id", sub.run_id)
            batch.append((trial, values, key))
        for trial, values, _ in batch:
            record(trial._trial_id, trial.number, values, str(trial.user_attrs["run_id"]))
        if repeats:
            finished = {_key(t.params): t for t in evaluated()}
            for trial, key in repeats:
                copy(trial, finished[key])

    evaluations = [_evaluation(t) for t in evaluated()]
    journal = None if study is None else str(Path(study).absolute())
    return TuneResult(name, objectives, constraints, evaluations, submitted, journal)


def tune_from_file(
    client: AccioClient,
    spec: str | Path,
    *,
    study: str | Path | None = None,
    budget: int | None = None,
    params: Mapping[str, Any] | None = None,
    wait: Callable[[str], Any] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
) -> TuneResult:
    """Run the study of a spec file (what ``accio tune`` calls); ``study``, ``budget`` and
    ``params`` (merged over the spec's) override the file."""
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
        study=study if study is not None else s.study,
        parallel=s.parallel,
        file=s.file,
        label=s.name,
        wait=wait,
        on_evaluation=on_evaluation,
    )


def _workflow(client: AccioClient, workflow: str | Path | Mapping[str, Any]) -> tuple[str, str]:
    """(id, version): a file or document is pushed; a bare id names a pushed workflow."""
    is_file = isinstance(workflow, Path) or str(workflow).endswith(".json")
    if isinstance(workflow, Mapping) or is_file or Path(workflow).is_file():
        record, _ = client.push(workflow)
        return str(record.id), str(record.version)
    wf = client.workflow(str(workflow))
    return wf.id, wf.version


def _journal(path: str | Path | None) -> Any:
    """An Optuna journal storage on ``path`` (None: the study lives in memory)."""
    if path is None:
        return None
    from optuna.storages import JournalStorage

    try:
        from optuna.storages.journal import JournalFileBackend as Backend
    except ImportError:  # Optuna < 4
        from optuna.storages import JournalFileStorage as Backend
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(Backend(str(path)))
    except OSError as exc:
        raise RuntimeFailure(f"{path}: cannot open the study journal: {exc}") from None


def _key(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def _number(v: Any) -> float:
    """A metric as a float: numbers, booleans, distances (metres), durations (ms); else NaN."""
    v = getattr(v, "meters", getattr(v, "millis", v))
    if isinstance(v, bool | int | float):
        return float(v)
    return math.nan


def _mean(values: Sequence[float]) -> float:
    nums = [v for v in values if not math.isnan(v)]
    if not values or len(nums) < len(values):  # a missing repeat is not averaged away
        return math.nan
    return sum(nums) / len(nums)


def _evaluation(t: optuna.trial.FrozenTrial) -> Evaluation:
    complete = t.state.name == "COMPLETE"
    return Evaluation(
        number=t.number,
        params=dict(t.params),
        values=list(t.values) if complete and t.values is not None else [],
        metrics=dict(t.user_attrs.get("metrics", {})),
        violations=list(t.user_attrs.get("violations", [])),
        run_id=t.user_attrs.get("run_id"),
        state="success" if complete else str(t.user_attrs.get("run_state", "failed")),
    )


__all__ = ["INSTALL_HINT", "MissingDependency", "import_optuna", "tune", "tune_from_file"]
