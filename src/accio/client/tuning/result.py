"""What a study found: its evaluations, the Pareto front of its objectives and one best choice.

Pure data and arithmetic (no Optuna), so that the CLI prints and serialises results without
importing the tuner's dependencies, and the front is tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from accio.client.tuning.spec import Constraint, Objective


@dataclass
class Evaluation:
    """One evaluated configuration: its run, metric values and constraint violations."""

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
            "violations": self.violations,
            "run_id": self.run_id,
            "state": self.state,
        }


def _signed(e: Evaluation, objectives: Sequence[Objective]) -> list[float]:
    """Objective values turned so that smaller is better for each."""
    return [
        v if o.direction == "minimize" else -v for o, v in zip(objectives, e.values, strict=True)
    ]


def pareto_front(
    evaluations: Sequence[Evaluation], objectives: Sequence[Objective]
) -> list[Evaluation]:
    """The feasible evaluations no other feasible one dominates (at least as good in every
    objective, better in one), in order of the first objective. Equal points are all kept."""
    feasible = [e for e in evaluations if e.feasible]
    keys = {e.number: _signed(e, objectives) for e in feasible}

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    front = [
        e for e in feasible if not any(dominates(keys[o.number], keys[e.number]) for o in feasible)
    ]
    return sorted(front, key=lambda e: (keys[e.number], e.number))


def choose_best(
    evaluations: Sequence[Evaluation], objectives: Sequence[Objective]
) -> Evaluation | None:
    """One configuration to recommend.

    One objective: the best feasible value (earliest on ties). Several: the point of the Pareto
    front closest to the ideal point once each objective is scaled to [0, 1] over the front (a
    compromise; the whole front is reported beside it). No feasible evaluation: the successful
    one violating the constraints least, flagged infeasible. None if nothing succeeded.
    """
    front = pareto_front(evaluations, objectives)
    if not front:
        done = [e for e in evaluations if e.state == "success"]
        if not done:
            return None
        return min(done, key=lambda e: (sum(max(v, 0.0) for v in e.violations), e.number))
    if len(front) == 1 or len(objectives) == 1:
        return front[0]
    points = [_signed(e, objectives) for e in front]
    lows = [min(col) for col in zip(*points, strict=True)]
    highs = [max(col) for col in zip(*points, strict=True)]

    def distance(p: list[float]) -> float:
        scaled = [
            (v - lo) / (hi - lo) if hi > lo else 0.0
            for v, lo, hi in zip(p, lows, highs, strict=True)
        ]
        return math.hypot(*scaled)

    return min(zip(front, points, strict=True), key=lambda fp: (distance(fp[1]), fp[0].number))[0]


@dataclass
class TuneResult:
    """A study's evaluations, the Pareto front of its objectives and the recommended one."""

    study: str
    objectives: list[Objective]
    constraints: list[Constraint]
    evaluations: list[Evaluation]
    submitted: int = 0
    journal: str | None = None
    front: list[Evaluation] = field(init=False)
    best: Evaluation | None = field(init=False)

    def __post_init__(self) -> None:
        self.front = pareto_front(self.evaluations, self.objectives)
        self.best = choose_best(self.evaluations, self.objectives)

    @property
    def feasible(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.feasible]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``accio tune --json``."""
        return {
            "study": self.study,
            "journal": self.journal,
            "objectives": [asdict(o) for o in self.objectives],
            "constraints": [asdict(c) for c in self.constraints],
            "best": None if self.best is None else self.best.to_dict(),
            "pareto_front": [e.to_dict() for e in self.front],
            "evaluations": [e.to_dict() for e in self.evaluations],
            "feasible": len(self.feasible),
            "submitted": self.submitted,
        }

    def summary(self) -> str:
        """The text report: counts, the best configuration and, for several objectives, the
        Pareto front, one line per configuration."""
        failed = sum(e.state != "success" for e in self.evaluations)
        lines = [
            f"Study {self.study}: {len(self.evaluations)} evaluation(s), "
            f"{len(self.feasible)} feasible, {failed} failed; {self.submitted} run(s) submitted "
            "in this session"
        ]
        if self.best is None:
            lines.append("No evaluation succeeded.")
            return "\n".join(lines)
        flag = "" if self.best.feasible else "  (no configuration satisfies the constraints)"
        lines.append(f"Best: {self.line(self.best)}{flag}")
        if len(self.objectives) > 1:
            lines.append(f"Pareto front ({len(self.front)} configuration(s)):")
            lines.extend(f"  {self.line(e)}" for e in self.front)
        return "\n".join(lines)

    def line(self, e: Evaluation) -> str:
        """One evaluation, its objectives' and constraints' metrics in the study's order."""
        shown = [o.metric for o in self.objectives]
        shown += [c.metric for c in self.constraints if c.metric not in shown]
        return format_evaluation(e, shown)


def format_evaluation(e: Evaluation, metrics: Sequence[str] | None = None) -> str:
    """``#3 epsilon=0.01 -> Distortion/meanDistortion=123.4 (run 0123456789ab)``."""
    params = " ".join(f"{k}={_show(v)}" for k, v in e.params.items())
    names = [m for m in (metrics or list(e.metrics)) if m not in e.params]  # params shown once
    shown = " ".join(f"{m}={_show(e.metrics.get(m))}" for m in names)
    run = f" (run {e.run_id[:12]})" if e.run_id else ""
    outcome = shown if e.state == "success" else e.state
    return f"#{e.number} {params}{' -> ' + outcome if outcome else ''}{run}"


def _show(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
