"""Accio on a Dask cluster against raw Dask on the same cluster, in the same run.

One ``distributed.LocalCluster`` (worker processes, one thread each) serves both sides:

(a) raw Dask: N trivial tasks (a function returning a float, ``pure=False``) submitted the way a
    Dask user would (``client.submit`` in a loop, and ``client.map``), then gathered; the faster
    of the two is the baseline;
(b) Accio: a sweep of N children of a 1-node workflow (the trivial ``Number`` operator) run by
    the real engine with ``ACCIO_EXECUTOR=dask`` pointed at the same cluster's address, timed
    from submit to the last result stored in the database;
(c) the same sweep submitted again: every node a cache hit.

Both sides are warm (workers started, code imported) before the clock starts; each figure is the
median of ``--repeat`` rounds, raw and Accio rounds interleaved so that a noisy neighbour hits
both. Target: Accio >= 1.0x raw Dask's throughput. The target is reported (PASS/MISS); the exit
status is non-zero only when something fails.
Accio bundles short nodes into Dask tasks (see accio.executors.dask); ``--no-bundle`` turns that
off to show what it saves.
Usage: python benchmarks/bench_cluster.py [--children N] [--workers W] [--repeat R] [--no-bundle]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

N_DEFAULT = 10_000


def trivial(x: float) -> float:
    return x + 1.0


def calibrate() -> float:
    """Seconds for 10^7 additions in a Python loop: ~0.5 s on an idle modern core."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def raw_submit(client: Any, n: int) -> float:
    """``client.submit`` in a loop, then gather: the plain way to run N independent calls."""
    t0 = time.perf_counter()
    futures = [client.submit(trivial, float(i), pure=False) for i in range(n)]
    client.gather(futures)
    return time.perf_counter() - t0


def raw_map(client: Any, n: int) -> float:
    """``client.map`` (one batched submission), then gather."""
    t0 = time.perf_counter()
    futures = client.map(trivial, [float(i) for i in range(n)], pure=False)
    client.gather(futures)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=N_DEFAULT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-bundle", action="store_true", help="one Dask task per node (what bundling saves)"
    )
    args = parser.parse_args()
    n, workers, repeat = args.children, args.workers, max(1, args.repeat)
    print(f"calibration: 10^7 Python additions in {calibrate():.2f} s (idle modern core: ~0.5 s)")

    home = tempfile.mkdtemp(prefix="accio-bench-cluster-")
    os.environ.update(  # before the cluster starts: its worker processes inherit them
        {
            "ACCIO_HOME": home,
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_CPUS": str(workers),
        }
    )
    try:
        import distributed
    except ImportError:
        print(
            "error: this benchmark needs dask.distributed: pip install 'accio[dask]'",
            file=sys.stderr,
        )
        return 1

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        address = cluster.scheduler_address
        print(
            f"dask {distributed.__version__} LocalCluster at {address}: {workers} worker"
            f" processes x 1 thread (scheduler in this process); {n:,} trivial tasks per round,"
            f" median of {repeat}; ACCIO_HOME={home}"
        )
        os.environ.update({"ACCIO_EXECUTOR": "dask", "ACCIO_DASK_SCHEDULER": address})
        from accio.client.client import Client

        client = Client(home, autostart=False)
        client.push(
            {
                "id": "trivial",
                "params": [{"name": "x", "kind": "double"}],
                "graph": [{"op": "Number", "inputs": {"value": {"param": "x"}}}],
            }
        )
        if args.no_bundle:
            import accio.executors.dask as accio_dask

            accio_dask.MAX_BUNDLE = 1
        scheduler = client.runtime.scheduler()
        print(
            f"accio executor: {type(scheduler.executor).__name__} ({scheduler.executor.slots} slots)"
        )

        # warm-up, not counted: worker code imported, connections open, on both sides
        dask_client.gather(dask_client.map(trivial, [1.0] * 200, pure=False))
        warm = client.submit(
            {"workflow": "trivial", "seed": 0, "params": {"x": {"from": 1, "to": 200, "step": 1}}},
            start=False,
        )
        scheduler.run_until_idle()
        if client.run(warm.run_id).state != "success":
            print(f"error: warm-up sweep ended {client.run(warm.run_id).state}", file=sys.stderr)
            return 1

        t_submit: list[float] = []
        t_map: list[float] = []
        t_accio: list[float] = []
        t_accio_submit: list[float] = []
        c_accio: list[float] = []
        run: dict[str, Any] = {}
        sub: Any = None
        for r in range(repeat):
            t_submit.append(raw_submit(dask_client, n))
            t_map.append(raw_map(dask_client, n))
            run = {
                "workflow": "trivial",
                "seed": r + 1,  # a new seed: a new cache key, every node runs
                "params": {"x": {"from": 1, "to": n, "step": 1}},
            }
            t0, c0 = time.perf_counter(), time.process_time()
            sub = client.submit(run, start=False)
            t_accio_submit.append(time.perf_counter() - t0)
            scheduler.run_until_idle()  # returns once every state change is in the database
            t_accio.append(time.perf_counter() - t0)
            c_accio.append(time.process_time() - c0)
            state = client.run(sub.run_id).state
            if state != "success":
                print(f"error: the Accio sweep ended {state}", file=sys.stderr)
                return 1

        t0 = time.perf_counter()
        again = client.submit(run, start=False)
        scheduler.run_until_idle()
        t_again = time.perf_counter() - t0
        states = {
            node.state
            for c in client.children(again.run_id, limit=100)
            for node in client.nodes(c.id)
        }
        scheduler.executor.stop()
        scheduler.close()
        client.close()

    med = statistics.median
    raw_best = min(med(t_submit), med(t_map))
    rate = lambda t: n / t  # noqa: E731
    print(
        f"(a) raw dask, client.submit loop: {med(t_submit):7.3f} s  {rate(med(t_submit)):8,.0f} tasks/s"
        f"  (rounds: {', '.join(f'{t:.2f}' for t in t_submit)})"
    )
    print(
        f"    raw dask, client.map:         {med(t_map):7.3f} s  {rate(med(t_map)):8,.0f} tasks/s"
        f"  (rounds: {', '.join(f'{t:.2f}' for t in t_map)})"
    )
    print(
        f"(b) accio, submit -> last result stored:"
        f" {med(t_accio):7.3f} s  {rate(med(t_accio)):8,.0f} nodes/s"
        f"  (rounds: {', '.join(f'{t:.2f}' for t in t_accio)})"
    )
    print(
        f"    of which submit (records, one transaction): {med(t_accio_submit):.3f} s;"
        f" this process's CPU (engine + dask scheduler): {med(c_accio):.2f} s"
    )
    ratio = raw_best / med(t_accio)
    verdict = "PASS" if ratio >= 1.0 else "MISS"
    bundling = "off" if args.no_bundle else "on"
    print(
        f"    accio / raw dask throughput:  {ratio:5.2f}x  (target >= 1.0x): {verdict}"
        f"  (bundling {bundling})"
    )
    print(f"(c) re-submit, all cache hits:    {t_again:7.3f} s  (node states {sorted(states)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
