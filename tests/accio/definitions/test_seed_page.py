"""The four run definitions of the seed page (examples/seed-page), against its workflow.

The workflow uses three location-privacy operators. This test does not depend on the real ones
being registered: it declares stand-ins with the same names and ports as spec/operators.md
(the definitions layer only looks at names, port types, defaults and constraints).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from accio import testing
from accio.definitions.documents import load_run, load_workflow
from accio.definitions.model import Workflow
from accio.definitions.run import resolve_run
from accio.definitions.sweep import Sweep
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry

SEED_PAGE = Path(__file__).resolve().parents[3] / "examples" / "seed-page"
RUNS = ("single", "metadata", "sweep", "seeded")
EPSILONS = (1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0)
URIS = ("/path/to/my/dataset", "/path/to/another/dataset")
#: Regression vectors (decisions.md §9): the child seed of seeded.json, and the seed given.
SEEDED_RUN_SEED = 120482382048
SEEDED_CHILD_SEED = 3811287539662953158


@operator(category="source", help="Stand-in: loads a trace dataset.")
class EventSource:
    class Inputs:
        url = Port("string")
        kind = Port("string", default="csv")

    class Outputs:
        data = Port("dataset")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        raise NotImplementedError


@operator(category="lppm", unstable=True, help="Stand-in: planar Laplace noise.")
class GeoIndistinguishability:
    class Inputs:
        epsilon = Port("double", default=0.001, min=0, min_exclusive=True)
        data = Port("dataset")

    class Outputs:
        data = Port("dataset")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        raise NotImplementedError


@operator(category="metric", help="Stand-in: distance from test points to train traces.")
class SpatialDistortion:
    class Inputs:
        interpolate = Port("boolean", default=True)
        train = Port("dataset")
        test = Port("dataset")

    class Outputs:
        avg = Port("map(string, double)")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        raise NotImplementedError


@pytest.fixture(scope="module")
def registry() -> OperatorRegistry:
    return OperatorRegistry(
        [*testing.operators(), EventSource, GeoIndistinguishability, SpatialDistortion]
    )


@pytest.fixture(scope="module")
def workflow(registry: OperatorRegistry) -> Workflow:
    workflow, warnings = load_workflow(SEED_PAGE / "geoind_workflow.json", registry)
    assert warnings == []
    return workflow


def resolve(name: str, workflow: Workflow, registry: OperatorRegistry, **kw: Any) -> Sweep:
    return resolve_run(load_run(SEED_PAGE / f"{name}.json"), workflow, registry, **kw)


def test_workflow_validates(workflow: Workflow) -> None:
    assert workflow.id == "geoind_workflow"
    assert {p.name: str(p.kind) for p in workflow.params} == {"uri": "string", "epsilon": "double"}
    assert sorted(n.name for n in workflow.nodes) == ["Distortion", "Noisy", "Source"]


@pytest.mark.parametrize("name", RUNS)
def test_every_run_definition_resolves(
    name: str, workflow: Workflow, registry: OperatorRegistry
) -> None:
    sweep = resolve(name, workflow, registry)
    assert sweep.warnings == ()
    assert len(sweep) >= 1


@pytest.mark.parametrize("name", ["single", "metadata", "seeded"])
def test_single_runs(name: str, workflow: Workflow, registry: OperatorRegistry) -> None:
    sweep = resolve(name, workflow, registry)
    assert sweep.is_single
    (child,) = sweep
    assert child.name is None
    assert dict(child.params) == {"epsilon": 0.0001, "uri": "/path/to/my/dataset"}


def test_metadata_keeps_name_notes_and_tags(
    workflow: Workflow, registry: OperatorRegistry
) -> None:
    run = resolve("metadata", workflow, registry).run
    assert run.name == "My first workflow"
    assert run.notes == "Keeping track of some very important decisions I made"
    assert run.tags == ("awesome_dataset", "geoind")


def test_sweep_has_36_children(workflow: Workflow, registry: OperatorRegistry) -> None:
    sweep = resolve("sweep", workflow, registry)
    assert [a.name for a in sweep.axes] == ["epsilon", "uri"]
    assert sweep.axes[0].values == EPSILONS
    assert sweep.axes[1].values == URIS
    assert sweep.combinations == 12
    assert sweep.repeat == 3
    assert len(sweep) == 36
    assert not sweep.is_single
    assert sweep.run.name == "My brand new experiment"
    assert sweep.run.tags == ("brand", "new")


def test_sweep_child_order(workflow: Workflow, registry: OperatorRegistry) -> None:
    """Parameters in JSON key order, epsilon varying slowest, repeats adjacent."""
    children = list(resolve("sweep", workflow, registry))
    for i, child in enumerate(children):
        assert child.index == i
        assert dict(child.params) == {"epsilon": EPSILONS[i // 6], "uri": URIS[i // 3 % 2]}
        assert child.repeat_index == i % 3
    assert [c.name for c in children[:4]] == [
        "epsilon=1.0E-5 uri=my/dataset #1",
        "epsilon=1.0E-5 uri=my/dataset #2",
        "epsilon=1.0E-5 uri=my/dataset #3",
        "epsilon=1.0E-5 uri=another/dataset #1",
    ]
    assert children[6].name == "epsilon=1.0E-4 uri=my/dataset #1"
    assert children[-1].name == "epsilon=1.0 uri=another/dataset #3"


def test_sweep_child_names_tell_combinations_apart(
    workflow: Workflow, registry: OperatorRegistry
) -> None:
    children = list(resolve("sweep", workflow, registry))
    assert len({c.name for c in children}) == len(children)


def test_sweep_child_seeds_are_distinct(workflow: Workflow, registry: OperatorRegistry) -> None:
    sweep = resolve("sweep", workflow, registry, seed=SEEDED_RUN_SEED)
    seeds = [c.seed for c in sweep]
    assert len(set(seeds)) == 36
    assert list(sweep.seeds()) == seeds
    assert all(0 <= s < 2**63 for s in seeds)


def test_seeded_run_is_reproducible(workflow: Workflow, registry: OperatorRegistry) -> None:
    first = resolve("seeded", workflow, registry)
    second = resolve("seeded", workflow, registry, seed=1)  # the file's seed wins
    assert first.seed_given and second.seed_given
    assert first.run_seed == second.run_seed == SEEDED_RUN_SEED
    assert [c.seed for c in first] == [c.seed for c in second] == [SEEDED_CHILD_SEED]


def test_single_run_and_matching_sweep_child_share_a_seed(
    workflow: Workflow, registry: OperatorRegistry
) -> None:
    """decisions.md §9: same run seed, same parameters, repeat index 0 -> same seed."""
    single = resolve("single", workflow, registry, seed=SEEDED_RUN_SEED)
    sweep = resolve("sweep", workflow, registry, seed=SEEDED_RUN_SEED)
    assert not single.seed_given
    assert single[0].seed == SEEDED_CHILD_SEED
    (match,) = [
        c
        for c in sweep
        if c.repeat_index == 0 and dict(c.params) == {"epsilon": 0.0001, "uri": URIS[0]}
    ]
    assert match.seed == SEEDED_CHILD_SEED
