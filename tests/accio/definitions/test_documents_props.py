"""Property: any JSON document is either a valid definition or a DefinitionError, never a crash.

Documents are drawn from JSON values built over the definitions' own vocabulary (keys, kinds,
operator and parameter names), so that the generator reaches deep into the checks, with the
awkward scalars mixed in: huge and non-finite numbers, lone surrogates, empty strings.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accio.definitions.documents import workflow_from_document
from accio.definitions.run import apply_overrides, parse_run, resolve_run
from accio.definitions.workflow import validate_workflow
from accio.errors import DefinitionError
from accio.testing import registry

REGISTRY = registry()
WORKFLOW_DOC: dict[str, Any] = {
    "id": "props",
    "params": [
        {"name": "x", "kind": "double"},
        {"name": "n", "kind": "integer", "default_value": 1},
        {"name": "label", "kind": "string", "default_value": "a"},
        {"name": "radius", "kind": "distance", "default_value": "1.meters"},
        {"name": "window", "kind": "duration", "default_value": "1.hours"},
    ],
    "graph": [
        {"op": "Number", "name": "Origin", "inputs": {"value": {"param": "x"}}},
        {
            "op": "AllTypes",
            "name": "All",
            "inputs": {
                "count": {"param": "n"},
                "label": {"param": "label"},
                "radius": {"param": "radius"},
                "window": {"param": "window"},
            },
        },
    ],
}
WORKFLOW = workflow_from_document(WORKFLOW_DOC, REGISTRY)[0]

WORDS = [
    "id", "name", "owner", "params", "graph", "op", "inputs", "value", "values", "reference",
    "param", "kind", "default_value", "workflow", "seed", "repeat", "tags", "notes", "from",
    "to", "step", "log", "log2", "log10", "x", "n", "label", "radius", "window", "props",
    "Number", "AllTypes", "Origin", "Origin/value", "double", "list(double)", "1.meters",
    "4h", "props:", ":", "\udcff", "",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 12, 999_999, 10**6, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 1e-5]),
    st.sampled_from(WORDS),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(WORDS), inner, max_size=5),
    ),
    max_leaves=25,
)
good_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.fixed_dictionaries({"values": st.lists(st.integers(0, 100), min_size=1, max_size=5)}),
    st.fixed_dictionaries(
        {"from": st.sampled_from([1e-5, 0, 1]), "to": st.sampled_from([1, 10, 1e308])},
        optional={"step": st.sampled_from([0.1, 2, 10, -1, 0]), "log": st.booleans()},
    ),
)
run_params = st.dictionaries(
    st.sampled_from(["x", "n", "label", "radius", "window", "nope"]),
    st.one_of(good_values, good_values, json_values),
    max_size=4,
).map(lambda params: {"x": 1.0, **params})
run_documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "workflow": st.sampled_from(["props"] * 6 + ["props:", ":x", "pro\udcffps"]),
            "params": run_params,
        },
        optional={
            "repeat": st.one_of(st.integers(1, 4), scalars),
            "seed": st.one_of(st.integers(0, 2**63), scalars),
            "tags": st.one_of(st.lists(st.sampled_from(WORDS), max_size=3), json_values),
            "name": st.one_of(st.text(max_size=8), scalars),
        },
    ),
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path, *(p for k, v in value.items() for p in _leaves(v, (*path, k)))]
    if isinstance(value, list):
        return [path, *(p for i, v in enumerate(value) for p in _leaves(v, (*path, i)))]
    return [path]


def _replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


WORKFLOW_PATHS = _leaves(WORKFLOW_DOC)
workflow_documents = st.one_of(
    json_values,
    st.builds(_replaced, st.just(WORKFLOW_DOC), st.sampled_from(WORKFLOW_PATHS), json_values),
    st.fixed_dictionaries(
        {"id": scalars, "graph": st.lists(json_values, max_size=4)},
        optional={"params": st.lists(json_values, max_size=3), "name": scalars},
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow_documents)
def test_any_workflow_document_validates_or_reports(document: Any) -> None:
    workflow, problems = validate_workflow(document, REGISTRY, file="wf.json")
    assert (workflow is None) == bool(problems.errors)
    for problem in problems.items:
        problem.render().encode("utf-8")  # every message prints on any terminal


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_documents,
    st.lists(st.tuples(st.sampled_from(["x", "n", "\udcff"]), st.text(max_size=6)), max_size=3),
)
def test_any_run_document_resolves_or_reports(document: Any, overrides: Any) -> None:
    run, problems = parse_run(document, file="run.json")
    if run is None:
        assert problems.errors
        return
    try:
        run = apply_overrides(run, params=overrides)
        sweep = resolve_run(run, WORKFLOW, REGISTRY, seed=1, max_children=10_000)
    except DefinitionError as exc:
        assert exc.errors
        for line in exc.lines():
            line.encode("utf-8")
        return
    assert 1 <= len(sweep) <= 10_000
    for child in sweep.children(0, 3):
        assert 0 <= child.seed < 2**63
