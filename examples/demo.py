"""The demo sweep: Geo-indistinguishability's privacy budget against utility, on the embedded default.

Runs ``examples/geoind/sweep.json`` (epsilon from 1e-4 to 1 per metre, one value per decade,
three repeats) through the real scheduler process, then prints epsilon against POI retrieval,
area coverage and spatial distortion (mean and standard deviation over the repeats). The sweep is
then submitted again: every node is a cache hit.

    python examples/demo.py                                   # synthetic traces
    python examples/demo.py --data ../shared/data/geolife-sample   # real traces (CSV layout)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accio.client.client import Client
from accio.engine import daemon
from accio.storage.records import RunRecord

HERE = Path(__file__).resolve().parent
METRICS = {
    "Retrieval/meanFscore": "POI F-score",
    "Coverage/meanFscore": "coverage F-score",
    "Distortion/meanDistortion": "distortion (m)",
}
console = Console(highlight=False)


def synthetic_data(home: Path, users: int, days: int) -> Path:
    """Synthetic traces (users with home, work and other places) written once as Parquet."""
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    path = home / "demo-data" / f"synthetic-{users}u-{days}d.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        events, _stays = generate_traces(users, days, 60_000, 10.0, (45.76, 4.84), seed=1)
        pq.write_table(events, path)
    return path


def follow(client: Client, run_id: str, label: str) -> tuple[RunRecord, float]:
    start = time.perf_counter()
    with Progress(
        TextColumn(f"{label:<6}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=1.0)
        record = client.wait(
            run_id, on_progress=lambda r: progress.update(task, completed=r.progress), poll=0.2
        )
        progress.update(task, completed=1.0)
    return record, time.perf_counter() - start


def results_table(client: Client, run_id: str) -> Table:
    frame = client.results(run_id).to_pandas()
    table = Table(title="epsilon (1/m) against utility, mean ± std over repeats", box=None)
    table.add_column("EPSILON", justify="right")
    for label in METRICS.values():
        table.add_column(label.upper(), justify="right")
    table.add_column("CHILDREN", justify="right")
    for eps, group in frame.groupby("epsilon"):
        cells = []
        for column in METRICS:
            values = group.get(column)
            if values is None or values.isna().all():
                cells.append("-")
            else:
                cells.append(
                    f"{values.mean():.4g} ± {values.std(ddof=1) if len(values) > 1 else 0:.2g}"
                )
        table.add_row(f"{eps:g}", *cells, str(len(group)))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", help="a directory of <id>.csv traces (lat,lng,time_ms), e.g. Geolife"
    )
    parser.add_argument("--users", type=int, default=20, help="synthetic users (default 20)")
    parser.add_argument("--days", type=int, default=7, help="synthetic days (default 7)")
    parser.add_argument("--keep-server", action="store_true", help="leave the scheduler running")
    args = parser.parse_args()

    client = Client()
    home = client.settings.home
    console.print(f"Accio home: {home}")
    if args.data:
        data = Path(args.data).resolve()
        if not data.is_dir():
            console.print(f"ERROR: {data}: not a directory of trace files")
            return 2
        url, kind = str(data), "csv"
    else:
        url, kind = str(synthetic_data(home, args.users, args.days)), "parquet"
    console.print(f"Data: {url} ({kind})")

    record, new = client.push(HERE / "geoind" / "geoind.json")
    console.print(f"{'Pushed' if new else 'Using'} workflow {record.id}:{record.version[:12]}")
    try:
        sub = client.submit(HERE / "geoind" / "sweep.json", params={"url": url, "kind": kind})
        console.print(
            f"Created run {sub.run_id} (parent of {len(sub.child_ids)} children), seed {sub.seed}"
        )
        final, cold = follow(client, sub.run_id, "cold")
        console.print(f"Run {final.state} in {cold:.1f} s")
        console.print(results_table(client, sub.run_id))

        again = client.submit(HERE / "geoind" / "sweep.json", params={"url": url, "kind": kind})
        final2, warm = follow(client, again.run_id, "warm")
        cached = sum(
            1
            for child in client.children(again.run_id)
            for n in client.nodes(child.id)
            if n.state == "cached"
        )
        total = sum(len(client.nodes(c.id)) for c in client.children(again.run_id))
        console.print(
            f"Re-submitted as {again.run_id}: {final2.state} in {warm:.1f} s, "
            f"{cached}/{total} nodes from the cache"
        )
        return 0 if final.state == "success" and final2.state == "success" else 4
    finally:
        if not args.keep_server:
            daemon.stop(home)
        client.close()


if __name__ == "__main__":
    os.environ.setdefault("ACCIO_HOME", str(Path.cwd() / ".accio-demo"))
    sys.exit(main())
