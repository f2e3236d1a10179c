"""Engine figures on the embedded default, each against a baseline measured in the same run.

(a) submit time of a 10^4-child sweep (resolve, build records, one batched transaction);
(b) wall time of 10^4 trivial nodes through the scheduler and the local executor, against the
    same 10^4 calls on a bare ``concurrent.futures.ProcessPoolExecutor`` and on a
    ``dask.distributed`` LocalCluster with the same number of worker processes;
(c) re-submission of the finished sweep: every node a cache hit.

Targets: (a) <= 1 s; (b) >= 50 % of the bare pool's throughput and >= 5x Dask's; (c) <= 2 s.
Usage: python benchmarks/bench_engine.py [--children N] [--workers W]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import tempfile
import time
from typing import Any

N_DEFAULT = 10_000


def trivial(x: float) -> float:
    return x + 1.0


def bare_pool(n: int, workers: int) -> float:
    with cf.ProcessPoolExecutor(workers) as pool:
        list(pool.map(trivial, [1.0] * 50))  # warm the workers up
        t0 = time.perf_counter()
        futures = [pool.submit(trivial, float(i)) for i in range(n)]
        for f in futures:
            f.result()
        return time.perf_counter() - t0


def dask_cluster(n: int, workers: int) -> float | None:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        return None
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(trivial, [1.0] * 50, pure=False))
        t0 = time.perf_counter()
        futures = [client.submit(trivial, float(i), pure=False) for i in range(n)]
        client.gather(futures)
        return time.perf_counter() - t0


def calibrate() -> float:
    """Seconds for 10^7 additions in a Python loop: ~0.5 s on an idle modern core. Shared
    virtual machines vary by 2-3x over an hour; read the absolute figures against this."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=N_DEFAULT)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    n, workers = args.children, args.workers
    print(f"calibration: 10^7 Python additions in {calibrate():.2f} s (idle modern core: ~0.5 s)")

    home = tempfile.mkdtemp(prefix="accio-bench-")
    os.environ.update(
        {
            "ACCIO_HOME": home,
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_CPUS": str(workers),
        }
    )
    from accio.client.client import Client

    client = Client(home, autostart=False)
    client.push(
        {
            "id": "trivial",
            "params": [{"name": "x", "kind": "double"}],
            "graph": [{"op": "Number", "inputs": {"value": {"param": "x"}}}],
        }
    )
    run: dict[str, Any] = {
        "workflow": "trivial",
        "seed": 1,
        "params": {"x": {"from": 1, "to": n, "step": 1}},
    }

    # Same footing as the baselines: workers started (and warm) before the clock starts.
    t0 = time.perf_counter()
    scheduler = client.runtime.scheduler()
    scheduler.executor.start()
    warm = client.submit(
        {"workflow": "trivial", "seed": 2, "params": {"x": {"values": [-1, -2]}}}, start=False
    )
    scheduler.run_until_idle()
    t_startup = time.perf_counter() - t0

    t0 = time.perf_counter()
    sub = client.submit(run, start=False)
    t_submit = time.perf_counter() - t0
    print(f"workers: {workers}; sweep of {len(sub.child_ids):,} children, 1 trivial node each")
    print(f"(a) submit:                      {t_submit:8.3f} s   (target <= 1 s)")

    t0, c0 = time.perf_counter(), time.process_time()
    scheduler.run_until_idle()
    t_engine = time.perf_counter() - t0
    c_engine = time.process_time() - c0  # less noisy than wall time on a shared machine
    scheduler.executor.stop()
    scheduler.close()
    assert client.run(sub.run_id).state == "success" and client.run(warm.run_id).state == "success"
    t_pool = bare_pool(n, workers)
    t_dask = None if args.no_dask else dask_cluster(n, workers)
    rate = lambda t: n / t  # noqa: E731
    print(f"    (worker start-up, not counted: {t_startup:.2f} s)")
    print(
        f"(b) accio scheduler + local:     {t_engine:8.3f} s   {rate(t_engine):9,.0f} nodes/s (warm workers)"
    )
    print(
        f"    scheduler process CPU:       {c_engine:8.3f} s   ({c_engine / n * 1e6:.0f} µs per node,"
        " writer thread included)"
    )
    print(
        f"    bare ProcessPoolExecutor:    {t_pool:8.3f} s   {rate(t_pool):9,.0f} tasks/s (warm pool)"
    )
    if t_dask is not None:
        print(
            f"    dask LocalCluster:           {t_dask:8.3f} s   {rate(t_dask):9,.0f} tasks/s (warm cluster)"
        )
    print(f"    accio / bare pool throughput: {t_pool / t_engine:6.0%}   (target >= 50 %)")
    if t_dask is not None:
        print(f"    accio / dask throughput:      {t_dask / t_engine:6.1f}x  (target >= 5x)")

    t0 = time.perf_counter()
    again = client.submit(run, start=False)
    client.execute("local")
    t_again = time.perf_counter() - t0
    states = {
        n.state for c in client.children(again.run_id, limit=100) for n in client.nodes(c.id)
    }
    print(
        f"(c) re-submit, all cache hits:   {t_again:8.3f} s   (target <= 2 s; node states {sorted(states)})"
    )


if __name__ == "__main__":
    main()
