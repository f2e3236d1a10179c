"""``explain`` names the key component that changed: input, version, code or seed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.config import Settings
from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry
from accio.testing import Noise, Number

pytestmark = pytest.mark.integration


@operator(name="Scale", version="1", help="Multiply a number.")
class ScaleV1:
    class Inputs:
        value = Port("double")
        factor = Port("double", default=2.0)

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"value": inputs["value"] * inputs["factor"]}


@operator(name="Scale", version="2", help="Multiply a number.")
class ScaleV2:
    class Inputs:
        value = Port("double")
        factor = Port("double", default=2.0)

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"value": inputs["value"] * inputs["factor"]}


@operator(name="Scale", version="1", help="Multiply a number (edited).")
class ScaleEdited:
    class Inputs:
        value = Port("double")
        factor = Port("double", default=2.0)

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"value": float(inputs["value"]) * float(inputs["factor"])}  # same result, new code


WORKFLOW = {
    "id": "scaled",
    "params": [
        {"name": "x", "kind": "double"},
        {"name": "factor", "kind": "double", "default_value": 2},
    ],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {
            "op": "Scale",
            "name": "Times",
            "inputs": {"value": {"reference": "In/value"}, "factor": {"param": "factor"}},
        },
        {"op": "Noise", "name": "Noisy", "inputs": {"value": {"reference": "In/value"}}},
    ],
}


def run_once(home: Path, scale: type, run: dict[str, Any]) -> dict[str, Any]:
    registry = OperatorRegistry([Number, Noise, scale])
    with Client(
        settings=Settings.from_env({"ACCIO_HOME": str(home)}), registry=registry, autostart=False
    ) as client:
        client.push(WORKFLOW)
        sub = client.submit(run)
        client.execute("inline")
        return {e.node: e for e in client.explain(sub.run_id)}


def test_explain_names_input_version_code_and_seed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    base = {"workflow": "scaled", "seed": 1, "params": {"x": 3.0}}
    first = run_once(home, ScaleV1, base)
    assert first["Times"].verdict == "executed"
    assert first["Times"].differences == ("first execution of Scale",)

    same = run_once(home, ScaleV1, base)
    assert {e.verdict for e in same.values()} == {"hit"}

    factor = run_once(home, ScaleV1, {**base, "params": {"x": 3.0, "factor": 5}})
    assert factor["Times"].differences == ("input factor",)
    assert factor["In"].verdict == "hit"

    version = run_once(home, ScaleV2, base)
    assert version["Times"].differences == ("version (1 -> 2)",)

    code = run_once(home, ScaleEdited, base)
    assert code["Times"].differences == ("code",)

    seed = run_once(home, ScaleV1, {**base, "seed": 2})
    assert seed["Noisy"].differences == ("seed",)
    assert seed["Times"].verdict == "hit"  # stable: the seed is not part of its key
