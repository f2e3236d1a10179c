"""Property tests of sweep expansion: counts, uniqueness, order, keyed seeds."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accio.definitions.documents import run_from_document, workflow_from_document
from accio.definitions.model import Workflow
from accio.definitions.run import resolve_run
from accio.definitions.sweep import Sweep
from accio.testing import registry

REGISTRY = registry()
WORKFLOW_DOC = {
    "id": "props",
    "params": [
        {"name": "count", "kind": "integer"},
        {"name": "ratio", "kind": "double"},
        {"name": "label", "kind": "string", "default_value": "a"},
        {"name": "radius", "kind": "distance"},
        {"name": "window", "kind": "duration", "default_value": "1.hours"},
    ],
    "graph": [
        {
            "op": "AllTypes",
            "inputs": {
                "count": {"param": "count"},
                "ratio": {"param": "ratio"},
                "label": {"param": "label"},
                "radius": {"param": "radius"},
                "window": {"param": "window"},
            },
        }
    ],
}
WORKFLOW: Workflow = workflow_from_document(WORKFLOW_DOC, REGISTRY)[0]

counts = st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True)
ratios = st.lists(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=4, unique=True
)
labels = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)
radii = st.lists(
    st.sampled_from(["0.meters", "10.meters", "1.km", "2.5.km"]),
    min_size=1,
    max_size=3,
    unique=True,
)


def sweep_of(
    params: dict[str, Any], repeat: int = 1, seed: int = 7, max_children: int = 10**6
) -> Sweep:
    run = run_from_document(
        {"workflow": "props", "seed": seed, "repeat": repeat, "params": params}
    )
    return resolve_run(run, WORKFLOW, REGISTRY, max_children=max_children)


@settings(max_examples=60, deadline=None)
@given(c=counts, r=ratios, lab=labels, rad=radii, repeat=st.integers(1, 4))
def test_count_is_product_times_repeat_and_children_unique(
    c: list[int], r: list[float], lab: list[str], rad: list[str], repeat: int
) -> None:
    sweep = sweep_of(
        {
            "count": {"values": c},
            "ratio": {"values": r},
            "label": {"values": lab},
            "radius": {"values": rad},
        },
        repeat,
    )
    assert len(sweep) == math.prod([len(c), len(r), len(lab), len(rad)]) * repeat
    children = list(sweep)
    assert len(children) == len(sweep)
    assert len({(tuple(sorted(ch.params.items())), ch.repeat_index) for ch in children}) == len(
        sweep
    )
    assert len({ch.seed for ch in children}) == len(sweep)
    if len(sweep) > 1:
        assert len({ch.name for ch in children}) == len(sweep)
    # random access agrees with iteration
    for ch in children[:: max(1, len(children) // 7)]:
        assert sweep[ch.index] == ch


@settings(max_examples=60, deadline=None)
@given(c=counts, r=ratios, rad=radii, data=st.data())
def test_seeds_stable_under_reordering_of_params(
    c: list[int], r: list[float], rad: list[str], data: st.DataObject
) -> None:
    entries = [("count", {"values": c}), ("ratio", {"values": r}), ("radius", {"values": rad})]
    shuffled = data.draw(st.permutations(entries))
    a = sweep_of(dict(entries))
    b = sweep_of(dict(shuffled))
    key = lambda ch: (tuple(sorted(ch.params.items())), ch.repeat_index)  # noqa: E731
    assert {key(ch): ch.seed for ch in a} == {key(ch): ch.seed for ch in b}


@settings(max_examples=40, deadline=None)
@given(c=counts, extra=st.integers(51, 100), repeat=st.integers(1, 3))
def test_adding_a_value_keeps_other_children_seeds(c: list[int], extra: int, repeat: int) -> None:
    base = {"ratio": 0.5, "radius": "1.km"}
    before = sweep_of({"count": {"values": c}, **base}, repeat)
    after = sweep_of({"count": {"values": [*c, extra]}, **base}, repeat)
    old = {(ch.params["count"], ch.repeat_index): ch.seed for ch in before}
    new = {(ch.params["count"], ch.repeat_index): ch.seed for ch in after}
    assert all(new[k] == v for k, v in old.items())


def test_first_parameter_varies_slowest_and_repeats_are_adjacent() -> None:
    sweep = sweep_of(
        {"count": {"values": [1, 2]}, "ratio": {"values": [0.1, 0.2]}, "radius": "1.km"}, 2
    )
    got = [(ch.params["count"], ch.params["ratio"], ch.repeat_index) for ch in sweep]
    assert got == [
        (1, 0.1, 0), (1, 0.1, 1), (1, 0.2, 0), (1, 0.2, 1),
        (2, 0.1, 0), (2, 0.1, 1), (2, 0.2, 0), (2, 0.2, 1),
    ]  # fmt: skip
    assert [ch.name for ch in sweep][:3] == [
        "count=1 ratio=0.1 #1",
        "count=1 ratio=0.1 #2",
        "count=1 ratio=0.2 #1",
    ]


def test_single_run_shares_its_seed_with_the_matching_child() -> None:
    single = sweep_of({"count": 3, "ratio": 0.5, "radius": "1.km"})
    sweep = sweep_of({"count": {"values": [2, 3]}, "ratio": 0.5, "radius": "1.km"})
    assert single.is_single and single[0].name is None
    assert single[0].seed == next(ch.seed for ch in sweep if ch.params["count"] == 3)


def test_defaults_are_part_of_params_and_seed_but_not_names() -> None:
    sweep = sweep_of({"count": {"values": [1, 2]}, "ratio": 0.5, "radius": "1.km"})
    child = sweep[0]
    assert child.params["label"] == "a"
    assert child.name == "count=1"
    other_default = sweep_of(
        {"count": {"values": [1, 2]}, "ratio": 0.5, "radius": "1.km", "label": "b"}
    )
    assert other_default[0].seed != child.seed


def test_pure_repeat_children_are_numbered() -> None:
    sweep = sweep_of({"count": 1, "ratio": 0.5, "radius": "1.km"}, 3)
    assert [ch.name for ch in sweep] == ["#1", "#2", "#3"]
    assert len({ch.seed for ch in sweep}) == 3


def test_huge_sweep_is_counted_without_materialising() -> None:
    sweep = sweep_of(
        {
            "count": {"from": 0, "to": 99},
            "ratio": {"from": 0, "to": 1, "step": 0.001},
            "radius": {"from": "1.meters", "to": "10000.meters", "step": "1.meters"},
        },
        repeat=10,
        max_children=10**11,  # above the default cap, which refuses such a sweep
    )
    assert len(sweep) == 100 * 1001 * 10000 * 10
    last = sweep[len(sweep) - 1]
    assert last.params["count"] == 99 and last.params["ratio"] == 1.0 and last.repeat_index == 9


def test_without_seed_a_random_seed_is_drawn_and_recorded() -> None:
    run = run_from_document(
        {"workflow": "props", "params": {"count": 1, "ratio": 0.5, "radius": "1.km"}}
    )
    a, b = resolve_run(run, WORKFLOW, REGISTRY), resolve_run(run, WORKFLOW, REGISTRY)
    assert not a.seed_given and 0 <= a.run_seed < 2**63
    assert a.run_seed != b.run_seed and a[0].seed != b[0].seed
