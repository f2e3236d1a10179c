"""What a tuning study states: its search space, objectives, constraints and the spec file.

A spec file (``accio tune SPEC.json``) is checked like a workflow definition: every problem is
reported at once as ``file: field: reason`` (a :class:`~accio.errors.DefinitionError`, exit 2),
unknown keys with a "did you mean". What depends on the workflow (are the tuned parameters its
parameters, are the metrics outputs of its nodes) is checked by :func:`check_against_workflow`
once the workflow is known (:mod:`accio.client.tuning.check`), before any evaluation runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from accio.definitions.load import read_json_file
from accio.definitions.problems import Problems, did_you_mean, json_kind

if TYPE_CHECKING:  # pragma: no cover
    import optuna


T = TypeVar("T")

SPEC_KEYS = (
    "name",
    "notes",
    "workflow",
    "params",
    "space",
    "objectives",
    "constraints",
    "budget",
    "seed",
    "repeat",
    "sampler",
    "study",
    "parallel",
)
PARAM_KEYS = ("low", "high", "log", "step", "type", "choices", "unit")
SAMPLERS = ("tpe", "random")

_DIRECTIONS = {
    "min": "minimize",
    "minimize": "minimize",
    "max": "maximize",
    "maximize": "maximize",
}
_CONSTRAINT = re.compile(r"^\s*(?P<metric>[^<>=\s]+)\s*(?P<op><=|>=)\s*(?P<bound>\S+)\s*$")


class SpecError(ValueError):
    """A malformed spec item; the loader turns it into a Problem at the item's path."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{what} must be a number, got {json_kind(value)}")
    if not math.isfinite(value):
        raise SpecError(f"{what} must be finite")
    return float(value)


@dataclass(frozen=True)
class Param:
    """One dimension of the search space.

    ``kind`` is ``"float"`` (``low``..``high``, optionally ``log``), ``"int"`` (``low``..``high``
    by ``step``, optionally ``log``) or ``"categorical"`` (``choices``). A ``unit`` (``"meters"``,
    ``"minutes"``) makes the values typed workflow literals such as ``"250.0.meters"``.
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
    def parse(cls, name: str, spec: Any) -> Param:
        """From JSON: ``{"low": 1e-4, "high": 1, "log": true}``, ``{"low": 10, "high": 18,
        "type": "int"}``, ``{"choices": ["a", "b"]}``; optional ``"unit"``."""
        if not isinstance(spec, Mapping):
            raise SpecError(f"expected an object with low/high or choices, got {json_kind(spec)}")
        for key in spec:
            if key not in PARAM_KEYS:
                raise SpecError(f"unknown key {key!r}{did_you_mean(key, PARAM_KEYS)}")
        unit = spec.get("unit")
        if unit is not None and (not isinstance(unit, str) or not unit.isidentifier()):
            raise SpecError(f"unit must be a unit name such as 'meters', got {unit!r}")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise SpecError("choices must be a non-empty array")
            if any(not isinstance(c, str | int | float | bool) or c is None for c in choices):
                raise SpecError("choices must be strings, numbers or booleans")
            if len({repr(c) for c in choices}) != len(choices):
                raise SpecError("choices must not repeat a value")
            return cls(name, "categorical", choices=tuple(choices), unit=unit)
        if "low" not in spec or "high" not in spec:
            raise SpecError("give low and high, or choices")
        low, high = _number(spec["low"], "low"), _number(spec["high"], "high")
        integral = isinstance(spec["low"], int) and isinstance(spec["high"], int)
        kind = spec.get("type", "int" if integral else "float")
        if kind not in ("int", "float"):
            raise SpecError(f"type must be 'int' or 'float', got {kind!r}")
        if kind == "int" and not (low.is_integer() and high.is_integer()):
            raise SpecError("an int parameter needs integer low and high")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise SpecError(f"log must be true or false, got {json_kind(log)}")
        if low > high:
            raise SpecError(f"low ({low:g}) is above high ({high:g})")
        if log and low <= 0:
            raise SpecError("a log scale needs low > 0")
        step = spec.get("step", 1)
        if "step" in spec and (
            isinstance(step, bool) or not isinstance(step, int) or step < 1 or kind != "int"
        ):
            raise SpecError("step is a positive integer, for int parameters only")
        if log and step != 1:
            raise SpecError("step and log cannot be combined")
        return cls(name, kind, low, high, log, step, unit=unit)

    @property
    def size(self) -> int | None:
        """How many distinct values the parameter takes (None: continuous)."""
        if self.kind == "categorical":
            return len(self.choices)
        if self.kind == "int":
            return int(self.high - self.low) // self.step + 1
        return None

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

    def samples(self) -> list[Any]:
        """The extreme values (or every choice): enough to type-check the space up front."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


@dataclass(frozen=True)
class Objective:
    """Minimise or maximise a metric (``"Node/port"``) or a parameter (its name)."""

    metric: str
    direction: str = "minimize"

    @classmethod
    def parse(cls, text: Any) -> Objective:
        """From ``"minimize:Distortion/meanDistortion"``, ``"max:epsilon"`` or
        ``{"metric": ..., "direction": ...}``."""
        if isinstance(text, Mapping):
            unknown = [k for k in text if k not in ("metric", "direction")]
            if unknown:
                raise SpecError(f"unknown key {unknown[0]!r}; an objective has metric, direction")
            direction, metric = text.get("direction", "minimize"), text.get("metric")
        elif isinstance(text, str):
            direction, sep, metric = text.partition(":")
            if not sep:
                raise SpecError(f"expected 'minimize:METRIC' or 'maximize:METRIC', got {text!r}")
        else:
            raise SpecError(
                f"expected a string such as 'minimize:Node/port', got {json_kind(text)}"
            )
        if not isinstance(direction, str) or direction.strip() not in _DIRECTIONS:
            raise SpecError(f"direction must be minimize or maximize, got {direction!r}")
        if not isinstance(metric, str) or not metric.strip():
            raise SpecError("the metric is missing: a 'Node/port' output or a parameter name")
        return cls(metric.strip(), _DIRECTIONS[direction.strip()])


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound`` (a metric ``"Node/port"`` or a parameter)."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: Any) -> Constraint:
        """From ``"Distortion/meanDistortion <= 300"`` or ``{"metric", "op", "bound"}``."""
        if isinstance(text, Mapping):
            unknown = [k for k in text if k not in ("metric", "op", "bound")]
            if unknown:
                raise SpecError(f"unknown key {unknown[0]!r}; a constraint has metric, op, bound")
            metric, op = text.get("metric"), text.get("op", "<=")
            if not isinstance(metric, str) or not metric:
                raise SpecError("the metric is missing: a 'Node/port' output or a parameter name")
            bound = _number(text.get("bound"), "bound")
        elif isinstance(text, str):
            m = _CONSTRAINT.match(text)
            if m is None:
                raise SpecError(f"expected 'METRIC <= BOUND' or 'METRIC >= BOUND', got {text!r}")
            metric, op = m["metric"], m["op"]
            try:
                bound = float(m["bound"])
            except ValueError:
                raise SpecError(f"the bound {m['bound']!r} is not a number") from None
        else:
            raise SpecError(f"expected a string such as 'Node/port <= 1', got {json_kind(text)}")
        if op not in ("<=", ">="):
            raise SpecError(f"op must be <= or >=, got {op!r}")
        return cls(metric, op, bound)

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when satisfied, the amount of violation otherwise."""
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass
class TuneSpec:
    """A tuning study as a JSON document (``accio tune SPEC.json``, README "Tuning").

    ``workflow`` is a file (relative to the spec) or a pushed workflow id; ``params`` fixes other
    workflow parameters; ``study`` is the journal file that makes the study resumable (relative
    to the spec). The other keys are those of :func:`accio.client.tuning.tune`.
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
    study: Path | None = None
    parallel: int = 1
    name: str | None = None
    file: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> TuneSpec:
        """Read and check a spec file; every problem at once, as a DefinitionError (exit 2)."""
        return cls.from_document(read_json_file(path), file=str(path))

    @classmethod
    def from_document(cls, doc: Any, *, file: str | None = None) -> TuneSpec:
        problems = Problems(file)
        base = Path(file).parent if file else Path.cwd()
        if not problems.check_object(doc, "", "a tuning spec") or not problems.check_document(doc):
            problems.raise_if_errors()
        problems.check_keys(doc, SPEC_KEYS, "")
        for key in ("workflow", "space", "objectives"):
            if key not in doc:
                problems.error(key, "missing (see README, 'Tuning')")

        workflow = doc.get("workflow")
        if "workflow" in doc and (not isinstance(workflow, str) or not workflow.strip()):
            problems.error("workflow", "expected a workflow file or a pushed workflow id")
        elif isinstance(workflow, str) and workflow.endswith(".json"):
            if not (base / workflow).is_file():
                problems.error("workflow", f"file not found: {base / workflow}")
            workflow = base / workflow

        space: list[Param] = []
        raw_space = doc.get("space", {})
        if problems.check_object(raw_space, "space", "an object of parameter ranges"):
            if "space" in doc and not raw_space:
                problems.error("space", "empty: name at least one parameter to tune")
            for name, item in raw_space.items():
                try:
                    space.append(Param.parse(name, item))
                except SpecError as exc:
                    problems.error(f"space.{name}", str(exc))

        objectives = _items(problems, doc, "objectives", Objective.parse, required=True)
        constraints = _items(problems, doc, "constraints", Constraint.parse, required=False)
        params = doc.get("params", {})
        if problems.check_object(params, "params", "an object of parameter values"):
            for name in params:
                if name in raw_space:
                    problems.error(f"params.{name}", "both fixed here and tuned in 'space'")

        ints = {k: _int(problems, doc, k, default, low) for k, default, low in _INTS}
        sampler = doc.get("sampler", "tpe")
        if sampler not in SAMPLERS:
            problems.error("sampler", f"expected 'tpe' or 'random', got {sampler!r}")
        study = doc.get("study")
        if study is not None and (not isinstance(study, str) or not study.strip()):
            problems.error("study", "expected the path of the study journal file")
        for key in ("name", "notes"):
            if key in doc and not isinstance(doc[key], str):
                problems.error(key, f"expected a string, got {json_kind(doc[key])}")
        problems.raise_if_errors()
        assert isinstance(workflow, str | Path)
        return cls(
            workflow=workflow,
            space=space,
            objectives=objectives,
            constraints=constraints,
            params=dict(params),
            budget=ints["budget"],
            seed=ints["seed"],
            repeat=ints["repeat"],
            sampler=str(sampler),
            study=base / study if isinstance(study, str) else None,
            parallel=ints["parallel"],
            name=doc.get("name"),
            file=file,
        )

    def describe(self) -> dict[str, Any]:
        """What identifies the study's search (not the budget): two specs that agree here
        continue the same study in a journal."""
        return {
            "space": [asdict(p) for p in self.space],
            "objectives": [asdict(o) for o in self.objectives],
            "constraints": [asdict(c) for c in self.constraints],
            "params": self.params,
            "seed": self.seed,
            "repeat": self.repeat,
            "sampler": self.sampler,
        }


#: (key, default, lowest allowed value) of the integer settings.
_INTS = (("budget", 20, 1), ("seed", 0, 0), ("repeat", 1, 1), ("parallel", 1, 1))


def _int(problems: Problems, doc: Mapping[str, Any], key: str, default: int, low: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
        problems.error(key, f"expected an integer >= {low}, got {value!r}")
        return default
    return value


def _items(
    problems: Problems,
    doc: Mapping[str, Any],
    key: str,
    parse: Callable[[Any], T],
    *,
    required: bool,
) -> list[T]:
    raw = doc.get(key, [])
    if isinstance(raw, str | Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        problems.error(key, f"expected an array, got {json_kind(raw)}")
        return []
    if required and key in doc and not raw:
        problems.error(key, "empty: state at least one")
    out: list[T] = []
    for i, item in enumerate(raw):
        try:
            out.append(parse(item))
        except SpecError as exc:
            problems.error(f"{key}[{i}]", str(exc))
    return out
