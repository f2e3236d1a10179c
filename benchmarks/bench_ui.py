"""Web UI and REST API pages on a store of 2 x 10^4 runs, against bare SQL reading the same rows.

The store: a 10^4-child sweep (submitted, not run) plus ``--singles`` (default 10^4) top-level runs,
so that the runs list has 10^4 runs to page through and the search has 10^3 to find. The pages
are served the way ``accio server`` serves them: the app in its own process, uvicorn in a thread
(:func:`accio.server.http.serve_in_thread`), read over loopback HTTP/1.1 with keep-alive. Median
of ``--repeat`` requests after warm-up:

* the runs list (first page of 50, with its total count), HTML and REST API;
* a search (FTS words), with its count, HTML and REST API;
* the page of the 10^4-child sweep (children tallies, per-node tallies, first 50 children).

Each is compared with the bare ``sqlite3`` queries that read the same rows from the same file in
this process. The round trip of ``/health`` (an empty JSON answer) is printed as the floor that
any page pays, and the ``net`` ratio subtracts it. Targets: each page <= 200 ms and <= 5x its
bare queries (verdicts printed; the exit status is 0 either way, so that ``make bench`` reports
rather than fails).

    python benchmarks/bench_ui.py [--children 10000] [--singles 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accio import testing
from accio.client.client import Client
from accio.config import Settings

WORKFLOW: dict[str, Any] = {
    "id": "bench_ui",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Xval", "inputs": {"value": {"param": "x"}}},
        {"op": "Noise", "name": "Noisy", "inputs": {"value": {"reference": "Xval/value"}}},
        {"op": "Add", "name": "Sum", "inputs": {"a": {"reference": "Noisy/value"}, "b": 1}},
    ],
}
PAGE_TARGET_MS = 200.0
RATIO_TARGET = 5.0


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``fn`` after two warm-up calls."""
    fn()
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def populate(client: Client, children: int, singles: int) -> str:
    client.push(WORKFLOW)
    t0 = time.perf_counter()
    sweep = client.submit(
        {
            "workflow": "bench_ui",
            "name": "big sweep",
            "tags": ["bench"],
            "params": {"x": {"from": 1, "to": children, "step": 1}},
        },
        start=False,
    )
    print(f"submitted a {len(sweep.child_ids):,}-child sweep in {time.perf_counter() - t0:.2f} s")
    one = client.submit(
        {"workflow": "bench_ui", "name": "template", "params": {"x": 0}}, start=False
    )
    template = client.run(one.run_id)
    nodes = client.nodes(one.run_id)
    runs, all_nodes = [], []
    for i in range(singles):
        rid = os.urandom(16).hex()
        word = "geo" if i % 10 == 0 else "plain"
        runs.append(
            dataclasses.replace(
                template,
                id=rid,
                name=f"trial {i} {word}",
                tags=("bench", word),
                created=template.created + 1 + i * 1e-3,
            )
        )
        all_nodes.extend(dataclasses.replace(n, run_id=rid) for n in nodes)
    client.storage.create_runs(runs, all_nodes)
    return sweep.run_id


SERVE = """
import sys
from accio.config import Settings
from accio.server.app import create_app
from accio.server.http import serve_in_thread
handle = serve_in_thread(create_app(settings=Settings.from_env()), "127.0.0.1", 0)
print(handle.port, flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
handle.stop()
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="accio-bench-ui-"))
    env = {**os.environ, "ACCIO_HOME": str(home), "ACCIO_PLUGINS": "accio.testing:operators"}
    settings = Settings.from_env(env)
    with Client(settings=settings, registry=testing.registry(), autostart=False) as client:
        parent = populate(client, args.children, args.singles)
        total = client.count_runs(top_level_only=False)
        print(f"store: {total:,} runs in {settings.database_url}")

    server = subprocess.Popen(
        [sys.executable, "-c", SERVE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def get(path: str) -> Callable[[], object]:
        def fetch() -> bytes:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, (path, response.status)
            return body

        return fetch

    db = sqlite3.connect(home / "accio.db")

    def bare(*queries: tuple[str, tuple[Any, ...]]) -> Callable[[], object]:
        return lambda: [db.execute(q, p).fetchall() for q, p in queries]

    top = "SELECT * FROM runs WHERE parent_id IS NULL"
    fts = "id IN (SELECT run_id FROM runs_fts WHERE runs_fts MATCH '\"geo\"*')"
    list_sql = bare(
        (f"{top} ORDER BY created DESC, id LIMIT 50", ()),
        ("SELECT count(*) FROM runs WHERE parent_id IS NULL", ()),
    )
    # runs_fts holds top-level runs only: the fastest bare plan starts from the matches.
    search_sql = bare(
        (f"SELECT * FROM runs WHERE {fts} ORDER BY created DESC, id LIMIT 50", ()),
        (f"SELECT count(*) FROM runs WHERE {fts}", ()),
    )
    sweep_sql = bare(
        ("SELECT * FROM runs WHERE id = ?", (parent,)),
        ("SELECT state, count(*) FROM runs WHERE parent_id = ? GROUP BY state", (parent,)),
        (
            "SELECT n.name, n.state, count(*) FROM nodes n JOIN runs r"
            " ON n.run_id = r.id WHERE r.parent_id = ? GROUP BY n.name, n.state",
            (parent,),
        ),
        ("SELECT * FROM runs WHERE parent_id = ? ORDER BY child_index, id LIMIT 50", (parent,)),
    )
    cases = [
        ("runs list (HTML)", "/", list_sql),
        ("runs list (API)", "/api/v1/runs?per_page=50", list_sql),
        ("search 'geo' (HTML)", "/?q=geo", search_sql),
        ("search 'geo' (API)", "/api/v1/runs?q=geo&per_page=50", search_sql),
        (f"sweep page ({args.children:,} children)", f"/runs/{parent}", sweep_sql),
    ]
    ok = True
    try:
        floor_ms = timed(get("/health"), args.repeat)
        print(f"\nHTTP round trip of /health (the floor of any page): {floor_ms:.2f} ms")
        print(
            f"{'page':<32} {'page ms':>8} {'bare SQL ms':>12} {'ratio':>7} {'net ratio':>10}"
            "  verdict"
        )
        for label, url, query in cases:
            page_ms = timed(get(url), args.repeat)
            bare_ms = timed(query, args.repeat)
            ratio = page_ms / bare_ms if bare_ms > 0 else float("inf")
            good = page_ms <= PAGE_TARGET_MS and ratio <= RATIO_TARGET
            ok &= good
            net = max(page_ms - floor_ms, 0.0) / bare_ms if bare_ms > 0 else float("inf")
            print(
                f"{label:<32} {page_ms:>8.2f} {bare_ms:>12.2f} {ratio:>6.1f}x {net:>9.1f}x"
                f"  {'ok' if good else 'MISSED'}"
            )
    finally:
        conn.close()
        server.stdin.close()
        server.wait(30)
        db.close()
    print(
        f"\ntargets: page <= {PAGE_TARGET_MS:.0f} ms and <= {RATIO_TARGET:.0f}x the bare queries:"
        f" {'met' if ok else 'NOT met'}"
    )
    print("(ratio: page over bare queries; net ratio: the same less the /health round trip)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
