"""Fixtures of the location-privacy tests: running operators, small trace tables, real data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from accio.ops.api import spec_of
from accio.ops.context import OperatorContext
from accio_locapriv.synthetic import generate_traces

#: The shared Geolife sample beside the repository (never copied into it).
GEOLIFE_SAMPLE = Path(__file__).resolve().parents[3] / "shared/data/geolife-sample"

RunOp = Callable[..., dict[str, Any]]


@pytest.fixture
def run_op(tmp_path: Path) -> RunOp:
    """``run_op(OperatorClass, inputs, seed=42)``: run an operator as the engine would.

    Defaults of ports missing from ``inputs`` are filled in, optional ports get ``None``.
    """

    def run(op: type, inputs: dict[str, Any], seed: int = 42) -> dict[str, Any]:
        spec = spec_of(op)
        values = {}
        for port in spec.inputs:
            if port.name in inputs:
                values[port.name] = inputs[port.name]
            elif port.has_default:
                values[port.name] = port.default
            elif port.optional:
                values[port.name] = None
            else:
                raise KeyError(f"missing required input {port.name}")
        ctx = OperatorContext(
            operator=spec.name,
            unstable=spec.unstable,
            node_seed=seed if spec.unstable else None,
            scratch_root=tmp_path,
        )
        return spec.instantiate().run(values, ctx)

    return run


@pytest.fixture(scope="session")
def synthetic() -> tuple[pa.Table, pa.Table]:
    """Six synthetic users over three days, sampled every minute: (events, stays)."""
    return generate_traces(6, 3, 60_000, 10.0, (45.76, 4.84), seed=7)


@pytest.fixture
def geolife_sample() -> Path:
    """The Geolife sample directory, or skip when it is not there."""
    if not GEOLIFE_SAMPLE.is_dir():
        pytest.skip(f"Geolife sample not found at {GEOLIFE_SAMPLE}")
    return GEOLIFE_SAMPLE
