"""Expanding and counting a 10^5-child sweep, against itertools.product over the same values.

Prints children/s for: counting (O(1)), full expansion (names, params, keyed seeds), seeds only,
and the baseline (bare tuples from itertools.product, no names, no seeds). Target: >= 200k/s.
"""

from __future__ import annotations

import itertools
import time

from accio.definitions.documents import run_from_document, workflow_from_document
from accio.definitions.run import resolve_run
from accio.testing import registry

N_TARGET = 100_000


def build_sweep():  # type: ignore[no-untyped-def]
    reg = registry()
    workflow, _ = workflow_from_document(
        {
            "id": "bench",
            "params": [
                {"name": "count", "kind": "integer"},
                {"name": "ratio", "kind": "double"},
                {"name": "radius", "kind": "distance"},
                {"name": "label", "kind": "string", "default_value": "a"},
            ],
            "graph": [
                {
                    "op": "AllTypes",
                    "inputs": {
                        "count": {"param": "count"},
                        "ratio": {"param": "ratio"},
                        "radius": {"param": "radius"},
                        "label": {"param": "label"},
                    },
                }
            ],
        },
        reg,
    )
    run = run_from_document(
        {
            "workflow": "bench",
            "seed": 1,
            "repeat": 4,
            "params": {
                "count": {"from": 0, "to": 99},
                "ratio": {"from": 0.02, "to": 1, "step": 0.02},
                "radius": {"from": "10.meters", "to": "100000.meters", "step": 10, "log10": True},
            },
        }
    )
    return resolve_run(run, workflow, reg)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} children/s  ({seconds * 1000:8.1f} ms for {n:,})"


def main() -> None:
    t0 = time.perf_counter()
    sweep = build_sweep()
    t_resolve = time.perf_counter() - t0
    n = len(sweep)
    print(f"sweep: {n:,} children = {sweep.combinations:,} combinations x repeat {sweep.repeat}")
    print(f"resolve + count:            {t_resolve * 1000:8.1f} ms")

    t0 = time.perf_counter()
    built = sum(1 for _ in sweep)
    t_full = time.perf_counter() - t0
    print(f"accio expansion (full):     {rate(built, t_full)}")

    t0 = time.perf_counter()
    seeds = sum(1 for _ in sweep.seeds())
    t_seeds = time.perf_counter() - t0
    print(f"accio seeds only:           {rate(seeds, t_seeds)}")

    values = [axis.values for axis in sweep.axes]
    t0 = time.perf_counter()
    base = sum(1 for _ in itertools.product(*values, range(sweep.repeat)))
    t_base = time.perf_counter() - t0
    print(f"baseline itertools.product: {rate(base, t_base)}")
    print(
        f"accio full expansion is {t_full / t_base:.1f}x the baseline's time "
        f"(the baseline builds bare tuples: no names, parameter dicts or seeds)"
    )
    verdict = "OK" if built / t_full >= 200_000 else "BELOW TARGET"
    print(f"target >= 200,000 children/s: {verdict}")


if __name__ == "__main__":
    main()
