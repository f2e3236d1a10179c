"""Tune Geo-indistinguishability: the largest privacy (smallest epsilon) meeting a distortion bound.

Runs the study of ``tune.json`` (epsilon searched on a log scale from 1e-4 to 1 per metre,
minimise epsilon subject to a mean spatial distortion of at most 200 m, 25 evaluations) on
synthetic users through the engine, then prints every evaluation and the best one. The study is
stored in the journal ``--study`` (default: the spec's, ``examples/tune/out/study.journal``):
interrupt it and run the script again, finished evaluations are not executed again.

    python examples/tune/tune.py [--budget N] [--bound METRES] [--home DIR]

A check without a tuner: planar Laplace moves points by 2/epsilon metres on average, and the
distortion (the distance to the nearest original point of the trace) is below that displacement,
so the optimum lies below epsilon = 2/bound.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accio.client.client import Client
from accio.client.tuning import Constraint, Evaluation, TuneSpec, tune

HERE = Path(__file__).resolve().parent


def synthetic_data(home: Path, users: int, days: int) -> Path:
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    path = home / "tune-data" / f"synthetic-{users}u-{days}d.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        events, _ = generate_traces(users, days, 120_000, 10.0, (45.76, 4.84), seed=1)
        pq.write_table(events, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, help="evaluations (default: the spec's)")
    parser.add_argument("--bound", type=float, help="distortion bound in metres (default 200)")
    parser.add_argument("--home", help="Accio home (default: ACCIO_HOME or ~/.accio)")
    parser.add_argument("--study", help="study journal (default: the spec's)")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args(argv)

    spec = TuneSpec.load(HERE / "tune.json")
    if args.bound is not None:
        spec.constraints = [Constraint("Distortion/meanDistortion", "<=", args.bound)]
    client = Client(args.home)
    url = str(synthetic_data(client.settings.home, args.users, args.days))

    def progress(e: Evaluation) -> None:
        d = e.metrics.get("Distortion/meanDistortion", float("nan"))
        flag = "ok " if e.feasible else "   "
        print(f"  #{e.number:<3} {flag} epsilon={e.params['epsilon']:.5g}  distortion={d:.1f} m")

    result = tune(
        client,
        spec.workflow,
        space=spec.space,
        objectives=spec.objectives,
        constraints=spec.constraints,
        budget=args.budget or spec.budget,
        params={**spec.params, "url": url},
        seed=spec.seed,
        repeat=spec.repeat,
        sampler=spec.sampler,
        study=args.study or spec.study,
        on_evaluation=progress,
    )
    print()
    for e in sorted(result.evaluations, key=lambda e: e.params["epsilon"]):
        d = e.metrics.get("Distortion/meanDistortion", float("nan"))
        mark = "*" if e is result.best else " "
        print(f"{mark} epsilon={e.params['epsilon']:<12.5g} distortion={d:8.1f} m  {e.state}")
    print()
    print(result.summary())
    bound = spec.constraints[0].bound
    print(f"(2/bound = {2 / bound:.4g}: the optimum lies below it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
