"""The checks of a study that need its workflow: before the first evaluation runs, the tuned
and fixed parameters are the workflow's, every metric is a numeric output of one of its nodes or
a parameter, and the extreme values of the space type-check as run parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from accio.client.tuning.spec import Constraint, Objective, Param
from accio.definitions.problems import Problems, did_you_mean
from accio.errors import DefinitionError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from accio.client.contract import AccioClient

#: Output types a metric may have: numbers (booleans count as 0/1).
NUMERIC = ("double", "integer", "long", "byte", "boolean")


def check_against_workflow(
    client: AccioClient,
    workflow_id: str,
    space: Sequence[Param],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    params: Mapping[str, Any],
    *,
    file: str | None = None,
    repeat: int = 1,
) -> None:
    """Every tuned and fixed parameter is the workflow's, every metric a numeric output of one
    of its nodes or a parameter, and the space's extreme values type-check: all before the
    first evaluation, as a DefinitionError naming the spec's field."""
    wf = client.workflow(workflow_id)
    problems = Problems(file)
    declared = [p.name for p in wf.params]
    for prefix, names in (("space", [p.name for p in space]), ("params", list(params))):
        for name in names:
            if name not in declared:
                hint = did_you_mean(name, declared) or f"; it has {', '.join(declared) or 'none'}"
                problems.error(
                    f"{prefix}.{name}", f"workflow {wf.id!r} has no parameter {name!r}{hint}"
                )
    outputs: dict[str, str] = {}
    for node in wf.nodes:
        for port in client.operator(node.op).outputs:
            outputs[f"{node.name}/{port.name}"] = port.type
    metrics: tuple[tuple[str, Sequence[Objective | Constraint]], ...] = (
        ("objectives", objectives),
        ("constraints", constraints),
    )
    for key, items in metrics:
        for i, item in enumerate(items):
            metric = item.metric
            if metric in declared:
                continue
            if metric not in outputs:
                owner = metric.partition("/")[0]
                ports = [o.partition("/")[2] for o in outputs if o.partition("/")[0] == owner]
                hint = did_you_mean(metric, [*outputs, *declared]) or (
                    f"; node {owner!r} has output(s) {', '.join(ports)}" if ports else ""
                )
                problems.error(
                    f"{key}[{i}]",
                    f"{metric!r} is neither an output ('Node/port') of workflow {wf.id!r} nor "
                    f"one of its parameters{hint}",
                )
            elif outputs[metric] not in NUMERIC:
                problems.error(
                    f"{key}[{i}]", f"{metric!r} is a {outputs[metric]} output, not a number"
                )
    problems.raise_if_errors()
    # The extreme values of each dimension, the others at their first sample.
    base = {p.name: p.literal(p.samples()[0]) for p in space}
    for p in space:
        for value in p.samples():
            run = {"workflow": workflow_id, "repeat": repeat, "seed": 0}
            run["params"] = {**params, **base, p.name: p.literal(value)}
            try:
                client.prepare(run)
            except DefinitionError as exc:
                where = {"params." + q.name: f"space.{q.name}" for q in space}
                raise DefinitionError(
                    [Problem(_remap(e.path, where), e.message, file) for e in exc.errors]
                ) from None


def _remap(path: str, where: Mapping[str, str]) -> str:
    """A run definition's ``params.x...`` path as the spec's ``space.x`` (or ``params.x``)."""
    for prefix, target in where.items():
        if path == prefix or path.startswith(prefix + "."):
            return target
    return path
