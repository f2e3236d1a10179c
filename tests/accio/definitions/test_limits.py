"""Inputs that used to escape as internal errors are definition errors with a path and a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accio.definitions.documents import load_run, run_from_document, workflow_from_document
from accio.definitions.limits import MAX_DEPTH, document_problems, nesting_position, printable
from accio.definitions.load import parse_json_text
from accio.definitions.model import Range
from accio.definitions.ranges import enumerate_range
from accio.definitions.run import apply_overrides, child_count, resolve_run
from accio.definitions.workflow import validate_workflow
from accio.errors import EXIT_DEFINITION, DefinitionError
from accio.testing import registry
from accio.values.types import DataType

REGISTRY = registry()
WORKFLOW = workflow_from_document(
    {
        "id": "limits",
        "params": [
            {"name": "x", "kind": "double"},
            {"name": "label", "kind": "string", "default_value": "a"},
        ],
        "graph": [
            {"op": "Number", "name": "Origin", "inputs": {"value": {"param": "x"}}},
            {"op": "AllTypes", "name": "Label", "inputs": {"label": {"param": "label"}}},
        ],
    },
    REGISTRY,
)[0]


def errors(exc: DefinitionError) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.errors]


def resolve(document: dict[str, Any], **kw: Any) -> Any:
    return resolve_run(run_from_document(document), WORKFLOW, REGISTRY, seed=1, **kw)


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_json_text_is_a_definition_error_with_its_position(depth: int) -> None:
    text = '{"graph": ' + "[" * depth + "]" * depth + "}"
    try:
        document = parse_json_text(text, "deep.json")
    except DefinitionError as exc:
        (problem,) = exc.errors
        assert problem.file == "deep.json"
        assert problem.message == (
            f"invalid JSON at line 1 column {10 + MAX_DEPTH}: nested deeper than 100 levels"
        )
        assert exc.exit_code == EXIT_DEFINITION
        return
    # Shallow enough for the decoder: the document check reports the field instead.
    _, problems = validate_workflow(document, REGISTRY, file="deep.json")
    assert [(p.path, p.message) for p in problems.errors] == [
        ("graph", "nested deeper than 100 levels")
    ]


def test_nesting_position_ignores_brackets_in_strings() -> None:
    assert nesting_position('{"a": "[[[[[["}', max_depth=2) is None
    assert nesting_position('{"a": "\\"[[", "b": [[1]]}', max_depth=2) == (1, 21)
    assert nesting_position("{\n [\n  [", max_depth=2) == (3, 3)


def test_document_scan_is_iterative_and_reports_once() -> None:
    value: Any = 1
    for _ in range(50_000):  # far deeper than the interpreter's stack
        value = [value]
    found = list(document_problems({"params": {"x": {"value": value}}}))
    assert found == [("params.x.value", "nested deeper than 100 levels")]


def test_exactly_max_depth_is_accepted() -> None:
    value: Any = []
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    assert list(document_problems(value)) == []
    assert list(document_problems([value])) == [("", "nested deeper than 100 levels")]


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("field", "document", "path"),
    [
        ("run name", {"workflow": "limits", "name": "\udcff", "params": {"x": 1}}, "name"),
        ("tag", {"workflow": "limits", "tags": ["a", "b\udcff"], "params": {"x": 1}}, "tags[1]"),
        ("notes", {"workflow": "limits", "notes": "\ud800", "params": {"x": 1}}, "notes"),
        ("value", {"workflow": "limits", "params": {"x": 1, "label": "\udcff"}}, "params.label"),
        ("key", {"workflow": "limits", "params": {"x\udcff": 1}}, "params.x\\udcff"),
        ("workflow", {"workflow": "lim\udcffits"}, "workflow"),
    ],
)
def test_lone_surrogates_in_a_run_name_their_field(
    field: str, document: dict[str, Any], path: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        resolve(document)
    ((got_path, message),) = errors(info.value)
    assert got_path == path, field
    assert "lone surrogate" in message
    for line in info.value.lines():
        line.encode("utf-8")  # the message itself prints anywhere


def test_lone_surrogate_in_a_node_name_is_reported_alone() -> None:
    document = {
        "id": "wf",
        "graph": [{"op": "Number", "name": "\udcff", "inputs": {"value": 1.0}}],
    }
    workflow, problems = validate_workflow(document, REGISTRY, file="wf.json")
    assert workflow is None
    assert [p.path for p in problems.errors] == ["graph[0].name"]


@given(st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1))
def test_any_surrogate_is_found_and_shown_escaped(text: str) -> None:
    ((path, message),) = list(document_problems({"name": "ok" + text}))
    assert path == "name"
    message.encode("utf-8")
    assert printable(text).encode("utf-8")


# --------------------------------------------------------------------------- overrides


def test_duplicate_override_is_rejected_with_both_values() -> None:
    run = run_from_document({"workflow": "limits"})
    with pytest.raises(DefinitionError) as info:
        apply_overrides(run, params=[("x", "0.1"), ("x", "0.2")])
    assert errors(info.value) == [
        (
            "params.x",
            "parameter 'x' is given twice ('0.1' and '0.2'); give it once "
            '(a sweep is written {"values": [...]} in a run file)',
        )
    ]
    assert info.value.errors[0].file == "<command line>"


def test_override_replacing_a_file_value_is_still_fine() -> None:
    run = run_from_document({"workflow": "limits", "params": {"x": 1}})
    sweep = resolve_run(apply_overrides(run, params=[("x", "2")]), WORKFLOW, REGISTRY, seed=1)
    assert sweep[0].params["x"] == 2.0


@pytest.mark.parametrize(
    ("kw", "path"),
    [
        ({"name": "\udcff"}, "name"),
        ({"notes": "a\udc80"}, "notes"),
        ({"tags": ["ok", "\udcff"]}, "tags[1]"),
        ({"params": [("x", "1\udcff")]}, "params.x"),
        ({"params": [("\udcff", "1")]}, "params.\\udcff"),
    ],
)
def test_overrides_from_undecodable_argv_are_rejected(kw: dict[str, Any], path: str) -> None:
    run = run_from_document({"workflow": "limits"})
    with pytest.raises(DefinitionError) as info:
        apply_overrides(run, **kw)
    assert [p for p, _ in errors(info.value)] == [path]


# --------------------------------------------------------------------------- workflow spec


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("limits:", "the version after ':' is empty"),
        ("limits: ", "the version after ':' is empty"),
        (":abc", "the workflow id before ':' is empty"),
        ("a:b:c", "use id or id:version"),
    ],
)
def test_bad_workflow_specs(spec: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        run_from_document({"workflow": spec})
    ((path, message),) = errors(info.value)
    assert path == "workflow" and reason in message


def test_good_workflow_specs() -> None:
    assert run_from_document({"workflow": "limits:0a1b"}).workflow == "limits:0a1b"
    assert run_from_document({"workflow": "limits"}).workflow == "limits"


# --------------------------------------------------------------------------- sweep size cap


def test_child_count_is_exact_without_building_anything() -> None:
    assert child_count([12], 999_999) == 11_999_988
    assert child_count([10**6, 10**6, 10**6], 10) == 10**19
    assert child_count([], 3) == 3


def test_repeat_over_the_cap_names_repeat_count_and_cap() -> None:
    document = {
        "workflow": "limits",
        "repeat": 999_999,
        "params": {"x": {"values": list(range(12))}},
    }
    with pytest.raises(DefinitionError) as info:
        resolve(document)
    assert errors(info.value) == [
        (
            "repeat",
            "the sweep has 11,999,988 children (12 x repeat 999,999), more than the limit of "
            "1,000,000 (ACCIO_MAX_CHILDREN)",
        )
    ]


def test_axes_over_the_cap_name_params() -> None:
    document = {
        "workflow": "limits",
        "params": {"x": {"from": 1, "to": 1000, "step": 1}, "label": {"values": ["a", "b"]}},
    }
    with pytest.raises(DefinitionError) as info:
        resolve(document, max_children=1999)
    assert errors(info.value) == [
        (
            "params",
            "the sweep has 2,000 children (1,000 x 2), more than the limit of 1,999 "
            "(ACCIO_MAX_CHILDREN)",
        )
    ]
    assert len(resolve(document, max_children=2000)) == 2000


def test_cap_is_reported_with_the_other_problems() -> None:
    document = {"workflow": "limits", "repeat": 50, "params": {"x": 1, "nope": 2}}
    with pytest.raises(DefinitionError) as info:
        resolve(document, max_children=10)
    assert [p for p, _ in errors(info.value)] == ["params.nope", "repeat"]


# --------------------------------------------------------------------------- huge numbers


def test_log_range_up_to_the_largest_doubles_does_not_overflow() -> None:
    values = enumerate_range(DataType("double"), Range(1e-5, 1e308, None, "e"))
    assert len(values) == 314
    assert values[:2] == (1e-05, 0.0001) and values[-1] == 1e308
    down = enumerate_range(DataType("double"), Range(1e308, 1e-300, 0.1, "e"))
    assert down[-1] == 1e-300 and min(down) > 0


def test_log_range_values_match_the_plain_product_when_it_does_not_overflow() -> None:
    values = enumerate_range(DataType("double"), Range(1e-5, 1, None, "e"))
    assert values == (1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0)


# --------------------------------------------------------------------------- files


def test_non_utf8_run_file_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b'{"workflow": "limits",\n "name": "caf\xe9"}')
    with pytest.raises(DefinitionError) as info:
        load_run(path)
    assert errors(info.value) == [
        ("", "cannot read file: not UTF-8 text (byte 0xe9 at line 2 column 14)")
    ]
    assert info.value.errors[0].file == str(path)


def test_deep_run_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(
        json.dumps({"workflow": "limits"})[:-1] + ', "x": ' + "[" * 9000 + "]" * 9000 + "}"
    )
    with pytest.raises(DefinitionError) as info:
        load_run(path)
    ((where, message),) = errors(info.value)
    assert where == "" and message.endswith("nested deeper than 100 levels")
