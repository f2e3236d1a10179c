"""The web server under load while a sweep runs: 10^4 GETs from 50 concurrent clients.

For each web-server layout (``ACCIO_HTTP_WORKERS``: 0 is the old one, a thread of the scheduler
process, the baseline; 1 and more are processes of their own), on a fresh home:

1. ``accio server start`` (the real scheduler, local executor, ``--cpus`` worker slots);
2. submit a sweep of ``--children`` children of a 3-node workflow whose middle node sleeps, so
   that the scheduler is busy dispatching and storing results the whole time;
3. once it runs, ``--clients`` concurrent clients (keep-alive HTTP/1.1 connections over
   loopback, from ``--procs`` load processes so that the load generator is not the bottleneck)
   send ``--requests`` GETs in all, cycling over the runs list (REST), the runs list (HTML), a
   search (REST) and a child's run page (HTML);
4. prints p50/p95/p99/max latency, requests/s, errors (any status but 200, any socket error) and
   how far the sweep went meanwhile (it must not have finished before the load did).

Targets (issue 12): p99 <= 100 ms and 0 errors. Verdicts are printed; the exit status is 1 only
when something broke (errors, or the sweep did not run during the load).

    python benchmarks/bench_load.py [--workers 0,1,2] [--requests 10000] [--clients 50]
        [--postgres postgresql+psycopg://user:pw@host/db] [--auth]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ACCIO = [sys.executable, "-m", "accio.cli.main"]
WORKFLOW: dict[str, Any] = {
    "id": "bench_load",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {
            "op": "Sleep",
            "name": "Nap",
            "inputs": {"value": {"reference": "In/value"}, "duration": "40.milliseconds"},
        },
        {"op": "Add", "name": "Sum", "inputs": {"a": {"reference": "Nap/value"}, "b": 1}},
    ],
}


def accio(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*ACCIO, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"accio {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


async def _client(
    host: str,
    port: int,
    paths: list[str],
    latencies: list[tuple[str, float]],
    errors: list[str],
    auth: str = "",
) -> None:
    """One keep-alive connection sending ``paths`` in turn; reconnects after an error."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    for path in paths:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n{auth}\r\n"
            writer.write(request.encode())
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            status = int(status_line.split()[1]) if status_line else 0
            if status != 200:
                errors.append(f"{status} {path}")
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors.append(f"{type(exc).__name__} {path}")
            if writer is not None:
                writer.close()
            reader = writer = None
        latencies.append((_kind(path), time.perf_counter() - started))
    if writer is not None:
        writer.close()


def _kind(path: str) -> str:
    if path.startswith("/runs/"):
        return "run page (HTML)"
    if "q=" in path:
        return "search (REST)"
    return "runs list (HTML)" if path == "/" else "runs list (REST)"


def _load(
    args: tuple[str, int, list[list[str]], str],
) -> tuple[list[tuple[str, float]], list[str]]:
    """In a load process: its clients' requests; ((kind, latency in s), errors)."""
    host, port, plans, auth = args
    latencies: list[tuple[str, float]] = []
    errors: list[str] = []

    async def main() -> None:
        await asyncio.gather(*(_client(host, port, p, latencies, errors, auth) for p in plans))

    asyncio.run(main())
    return latencies, errors


def progress(env: dict[str, str], run_id: str) -> dict[str, Any]:
    data = json.loads(accio(env, "describe", "run", run_id, "--json"))
    return dict(data.get("node_progress") or {})


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[dict[str, str]]:
    """The storage setting of one measurement: SQLite in the home (the embedded default), or a
    fresh PostgreSQL database made beside ``postgres`` and dropped afterwards."""
    if not postgres:
        yield {}
        return
    import sqlalchemy as sa

    url = sa.make_url(postgres)
    name = f"accio_load_{os.getpid()}_{random.randrange(10**6)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield {"ACCIO_DATABASE_URL": url.set(database=name).render_as_string(False)}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def measure(workers: int, options: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="accio-load-") as tmp,
        database(options.postgres) as storage,
    ):
        home = Path(tmp) / "home"
        env = {
            **storage,
            **os.environ,
            "ACCIO_HOME": str(home),
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_HTTP_WORKERS": str(workers),
            "ACCIO_CPUS": str(options.cpus),
            "ACCIO_SERVER": "",
            "ACCIO_AUTH": "on" if options.auth else "off",
        }
        auth = ""
        if options.auth:  # every request signs in with a token, as on the team server
            accio(env, "user", "add", "bench")
            token = accio(env, "token", "create", "bench").strip()
            auth = f"Authorization: Bearer {token}\r\n"
        accio(env, "server", "start", "--http", "127.0.0.1:0")
        try:
            url = (home / "server.url").read_text().split()[0]
            host, port = url.removeprefix("http://").rsplit(":", 1)
            wf = Path(tmp) / "wf.json"
            wf.write_text(json.dumps(WORKFLOW))
            accio(env, "push", str(wf))
            run = {
                "workflow": "bench_load",
                "name": "load sweep",
                "tags": ["load"],
                "seed": 1,
                "params": {"x": {"from": 1, "to": options.children, "step": 1}},
            }
            run_file = Path(tmp) / "run.json"
            run_file.write_text(json.dumps(run))
            submitted = json.loads(accio(env, "submit", str(run_file), "--json"))
            run_id = str(submitted["run_id"])
            child_ids = [str(c) for c in submitted["child_ids"]]
            time.sleep(1.0)  # the sweep is dispatching
            before = progress(env, run_id)
            paths = [
                "/api/v1/runs?per_page=20",
                "/",
                "/api/v1/runs?q=load&per_page=20",
                "",  # a child's page, chosen per request
            ]
            rng = random.Random(7)
            per_client = options.requests // options.clients
            plans = [
                [
                    (paths[i % 4] or f"/runs/{rng.choice(child_ids)}")
                    for i in range(c, c + per_client)
                ]
                for c in range(options.clients)
            ]
            shares = [plans[p :: options.procs] for p in range(options.procs)]
            started = time.perf_counter()
            with multiprocessing.get_context("spawn").Pool(options.procs) as pool:
                parts = pool.map(_load, [(host, int(port), share, auth) for share in shares])
            elapsed = time.perf_counter() - started
            after = progress(env, run_id)
        finally:
            accio(env, "server", "stop")
    timed = [x for part in parts for x in part[0]]
    latencies = sorted(t for _, t in timed)
    errors = [e for part in parts for e in part[1]]
    q = statistics.quantiles(latencies, n=100)
    kinds = {
        kind: statistics.quantiles([t for k, t in timed if k == kind], n=100)[98] * 1e3
        for kind in sorted({k for k, _ in timed})
    }
    return {
        "workers": workers,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": q[49] * 1e3,
        "p95": q[94] * 1e3,
        "p99": q[98] * 1e3,
        "max": latencies[-1] * 1e3,
        "errors": errors,
        "p99_by_kind": kinds,
        "before": before,
        "after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="0,1,2", help="ACCIO_HTTP_WORKERS values to compare")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=2, help="load-generating processes")
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--cpus", type=int, default=2, help="the scheduler's worker slots")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="store runs in a fresh PostgreSQL database made with this URL's role (the team "
        "set-up) instead of SQLite",
    )
    parser.add_argument(
        "--auth", action="store_true", help="ACCIO_AUTH=on: every request sends a token"
    )
    options = parser.parse_args()
    print(
        f"{options.requests} GETs from {options.clients} keep-alive clients "
        f"({options.procs} load processes) during a {options.children}-child sweep, "
        f"{'PostgreSQL' if options.postgres else 'SQLite'}, "
        f"{'auth on (a token per request), ' if options.auth else ''}"
        f"{os.cpu_count()} CPUs; targets p99 <= 100 ms, 0 errors"
    )
    print(
        f"{'layout':<26}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}  sweep during load"
    )
    broken = False
    for workers in (int(w) for w in options.workers.split(",")):
        r = measure(workers, options)
        layout = "thread of the scheduler" if workers == 0 else f"{workers} web process(es)"
        ok = r["p99"] <= 100 and not r["errors"]
        done_before = r["before"].get("success", 0) + r["before"].get("cached", 0)
        done_after = r["after"].get("success", 0) + r["after"].get("cached", 0)
        print(
            f"{layout:<26}{r['rps']:>8.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}"
            f"{r['max']:>9.1f}{len(r['errors']):>8}  nodes done {done_before} -> {done_after}"
            f"  {'PASS' if ok else 'MISS'}"
        )
        print(
            "  p99 by page: " + ", ".join(f"{k} {v:.0f} ms" for k, v in r["p99_by_kind"].items())
        )
        if r["errors"]:
            print(f"  first errors: {r['errors'][:5]}")
            broken = True
        if done_after <= done_before:
            print("  the sweep made no progress during the load: not a loaded measurement")
            broken = True
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
