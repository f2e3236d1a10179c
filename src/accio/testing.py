"""Small domain-agnostic operators for tests, examples and plugin authors.

Load them into any registry with ``ACCIO_PLUGINS=accio.testing:operators`` (or build an
:class:`~accio.ops.registry.OperatorRegistry` from :func:`operators`). They are deliberately tiny so
that engine tests measure the engine, not the operators.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from accio.ops.api import Port, operator
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry


@operator(category="test", help="Emit a number.")
class Number:
    class Inputs:
        value = Port("double", help="the number")

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"value": float(inputs["value"])}


@operator(category="test", help="Add two numbers.")
class Add:
    class Inputs:
        a = Port("double")
        b = Port("double", default=0.0)

    class Outputs:
        sum = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"sum": float(inputs["a"]) + float(inputs["b"])}


@operator(category="test", unstable=True, help="Add Gaussian noise drawn from the node seed.")
class Noise:
    class Inputs:
        value = Port("double")
        scale = Port("double", default=1.0, min=0)

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        noise = ctx.rng().normal(0.0, float(inputs["scale"]))
        return {"value": float(inputs["value"]) + float(noise)}


@operator(category="test", unstable=True, help="A table of random rows (columns id, x).")
class RandomTable:
    class Inputs:
        rows = Port("integer", default=10, min=0)

    class Outputs:
        data = Port("dataset")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        n = int(inputs["rows"])
        x = ctx.rng().normal(size=n)
        return {"data": pa.table({"id": [f"r{i}" for i in range(n)], "x": x})}


@operator(category="test", help="Mean of a numeric column of a dataset.")
class Mean:
    class Inputs:
        data = Port("dataset")
        column = Port("string", default="x")

    class Outputs:
        mean = Port("double")
        count = Port("long")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        table: pa.Table = inputs["data"]
        values = table.column(inputs["column"]).to_numpy()
        ctx.log(f"averaging {len(values)} values")
        return {"mean": float(np.mean(values)) if len(values) else 0.0, "count": len(values)}


@operator(category="test", help="Fail with a message (for failure handling tests).")
class Fail:
    class Inputs:
        value = Port("double")
        message = Port("string", default="asked to fail")

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        raise RuntimeError(inputs["message"])


@operator(category="test", help="Sleep, then pass a number through (for scheduling tests).")
class Sleep:
    class Inputs:
        value = Port("double")
        duration = Port("duration", default="100.milliseconds")

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        time.sleep(inputs["duration"].millis / 1000)
        return {"value": float(inputs["value"])}


@operator(category="test", help="Note each execution in $ACCIO_TALLY_FILE, then sleep.")
class Tally:
    """Counts its executions (fault-injection tests check that finished nodes never rerun)."""

    class Inputs:
        value = Port("double")
        duration = Port("duration", default="20.milliseconds")

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        path = os.environ.get("ACCIO_TALLY_FILE")
        if path:
            with open(path, "a") as out:
                out.write(f"{inputs['value']!r}\n")
        time.sleep(inputs["duration"].millis / 1000)
        return {"value": float(inputs["value"])}


@operator(category="test", help="Kill its own process (for crash isolation tests).")
class Crash:
    class Inputs:
        value = Port("double")

    class Outputs:
        value = Port("double")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        os._exit(13)


@operator(
    category="test",
    help="Accept one input of every type (for validation tests).",
    deprecation="",
)
class AllTypes:
    class Inputs:
        count = Port("integer", default=1, min=0, max=100)
        big = Port("long", default=0)
        small = Port("byte", default=0)
        ratio = Port("double", default=0.5, min=0, max=1)
        label = Port("string", default="a", choices=("a", "b", "c"))
        flag = Port("boolean", default=False)
        radius = Port("distance", default="100.meters", min=0)
        window = Port("duration", default="1.hours")
        start = Port("timestamp", optional=True)
        where = Port("location", optional=True)
        weights = Port("map(string, double)", optional=True)
        values = Port("list(double)", optional=True)
        ids = Port("set(integer)", optional=True)
        data = Port("dataset", optional=True)

    class Outputs:
        summary = Port("string")

    def run(self, inputs: Mapping[str, Any], ctx: OperatorContext) -> dict[str, Any]:
        return {"summary": ",".join(sorted(k for k, v in inputs.items() if v is not None))}


OPERATORS: list[type] = [
    Number,
    Add,
    Noise,
    RandomTable,
    Mean,
    Fail,
    Sleep,
    Tally,
    Crash,
    AllTypes,
]


def operators() -> list[type]:
    """The test operators (entry-point style target)."""
    return list(OPERATORS)


def registry() -> OperatorRegistry:
    """A registry holding only the test operators."""
    return OperatorRegistry(OPERATORS)
