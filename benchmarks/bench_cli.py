"""CLI start-up: wall time of ``accio`` commands against ``python -c pass`` in the same run.

Every command is a fresh process, as a researcher types it: interpreter start, imports, opening
the home, the query, rendering. Measured on a home holding one finished sweep (12 children of a
small workflow from ``accio.testing``), so that ``get runs`` and ``describe run`` read real rows.

Target: <= 0.3 s for each command on the 2-core machine (median of the repetitions).
Usage: python benchmarks/bench_cli.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.3

WORKFLOW = {
    "id": "bench_cli",
    "params": [{"name": "a", "kind": "double"}, {"name": "b", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "NumA", "inputs": {"value": {"param": "a"}}},
        {"op": "Number", "name": "NumB", "inputs": {"value": {"param": "b"}}},
        {
            "op": "Add",
            "name": "Sum",
            "inputs": {"a": {"reference": "NumA/value"}, "b": {"reference": "NumB/value"}},
        },
    ],
}
SWEEP = {
    "workflow": "bench_cli",
    "seed": 7,
    "params": {"a": {"values": [1, 2, 3]}, "b": {"values": [1, 2, 3, 4]}},
}


def accio_executable() -> str:
    here = Path(sys.executable).parent / "accio"
    found = str(here) if here.exists() else shutil.which("accio")
    if found is None:
        raise SystemExit("accio is not installed in this environment (make test installs it)")
    return found


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def median_time(argv: list[str], env: dict[str, str], repeat: int) -> float:
    run(argv, env)  # warm the page cache and Python's bytecode cache
    return statistics.median(run(argv, env)[0] for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    accio = accio_executable()
    with tempfile.TemporaryDirectory(prefix="accio-bench-cli-") as tmp:
        env = dict(os.environ)
        env.update(
            ACCIO_HOME=str(Path(tmp) / "home"),
            ACCIO_PLUGINS="accio.testing:operators",
            ACCIO_CPUS="1",
        )
        env.pop("ACCIO_SERVER", None)
        wf = Path(tmp) / "bench_cli.json"
        wf.write_text(json.dumps(WORKFLOW))
        sweep = Path(tmp) / "sweep.json"
        sweep.write_text(json.dumps(SWEEP))
        run([accio, "push", str(wf)], env)
        _, out = run([accio, "submit", str(sweep), "--wait", "--json"], env)
        run_id = json.loads(out)["run_id"]
        try:
            baseline = median_time([sys.executable, "-c", "pass"], env, args.repeat)
            figures = {
                "accio --version": median_time([accio, "--version"], env, args.repeat),
                "accio get runs": median_time([accio, "get", "runs"], env, args.repeat),
                "accio describe run": median_time(
                    [accio, "describe", "run", run_id], env, args.repeat
                ),
            }
        finally:
            subprocess.run([accio, "server", "stop"], env=env, capture_output=True, check=False)
    print(f"python -c pass            {baseline * 1000:7.0f} ms   (baseline)")
    worst = 0.0
    for name, seconds in figures.items():
        worst = max(worst, seconds)
        verdict = "ok" if seconds <= TARGET_S else "MISSED"
        print(
            f"{name:<24} {seconds * 1000:7.0f} ms   {seconds / baseline:5.1f}x baseline, "
            f"+{(seconds - baseline) * 1000:.0f} ms   target {TARGET_S * 1000:.0f} ms: {verdict}"
        )
    print(f"worst: {worst * 1000:.0f} ms against a target of {TARGET_S * 1000:.0f} ms")


if __name__ == "__main__":
    main()
