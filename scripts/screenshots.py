"""Screenshots of the web UI, and the demo's privacy-utility figure as files.

Builds, in a fresh Accio home, the demo sweep of ``examples/geoind`` (Geo-indistinguishability's
epsilon from 1e-4 to 1, three repeats, on synthetic traces) and small sweeps of the test
operators, serves the UI on a loopback port and drives Debian's headless Chromium through
Playwright::

    python scripts/screenshots.py                 # PNGs in screenshots/
    python scripts/screenshots.py --out /tmp/shots --chromium /usr/bin/chromium

Pages: the runs list, the demo sweep's page, its privacy-utility plot (utility on x, privacy on
y, points labelled with epsilon), the grid of metrics against epsilon (log axes), a compare page,
a dataset preview and a workflow page. ``figure-privacy-utility.svg``/``.pdf``/``.png`` are the
same figure written by vl-convert, as ``accio plot`` writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

WORKFLOW: dict[str, Any] = {
    "id": "noisy_release",
    "name": "Noisy release of a statistic",
    "params": [
        {"name": "scale", "kind": "double"},
        {"name": "rows", "kind": "integer", "default_value": 50},
    ],
    "graph": [
        {"op": "Number", "name": "Privacy", "inputs": {"value": {"param": "scale"}}},
        {"op": "RandomTable", "name": "Data", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "name": "Truth", "inputs": {"data": {"reference": "Data/data"}}},
        {
            "op": "Noise",
            "name": "Release",
            "inputs": {"value": {"reference": "Truth/mean"}, "scale": {"param": "scale"}},
        },
        {
            "op": "Add",
            "name": "Error",
            "inputs": {"a": {"reference": "Release/value"}, "b": 0.0},
        },
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "noisy_release",
    "name": "noise scale against error",
    "notes": "How much error does each noise scale cost? Five repeats per setting.",
    "tags": ["demo", "privacy-utility"],
    "seed": 20170615,
    "repeat": 5,
    "params": {
        "scale": {"from": 0.001, "to": 10, "log": True},
        "rows": {"values": [20, 200]},
    },
}


def synthetic_traces(home: Path) -> Path:
    """The demo's synthetic traces (12 users, 5 days), as ``examples/demo.py`` writes them."""
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    path = home / "demo-data" / "synthetic.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    events, _stays = generate_traces(12, 5, 60_000, 10.0, (45.76, 4.84), seed=1)
    pq.write_table(events, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text("*\n")

    home = tempfile.mkdtemp(prefix="accio-shots-")
    os.environ["ACCIO_HOME"] = home
    os.environ.setdefault("ACCIO_PLUGINS", "accio.testing:operators")

    import uvicorn
    from fastapi import FastAPI
    from playwright.sync_api import sync_playwright

    from accio.client.client import Client
    from accio.config import Settings

    with Client(settings=Settings.from_env(), autostart=False) as client:
        client.push(WORKFLOW)
        sweep = client.submit(SWEEP)
        other = client.submit(
            {
                **SWEEP,
                "name": "noise scale, 500 rows",
                "seed": 7,
                "params": {**SWEEP["params"], "rows": 500},
            }
        )
        baseline = client.submit(
            {"workflow": "noisy_release", "name": "baseline", "params": {"scale": 0.1}, "seed": 1}
        )
        client.push(ROOT / "examples" / "geoind" / "geoind.json")
        traces = synthetic_traces(Path(home))
        geoind = client.submit(
            ROOT / "examples" / "geoind" / "sweep.json",
            params={"url": str(traces), "kind": "parquet"},
        )
        client.execute("inline", timeout=900)
        write_figures(client, geoind.run_id, out)
        try:
            from accio.server.app import create_app

            app = create_app(settings=client.settings, client=client)
        except ImportError:
            from accio.server.ui import install

            app = FastAPI()
            install(app, client)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        data_digest = json.loads(client.node(baseline.run_id, "Data").outputs or "{}")["data"]
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(base + "/")
                page.screenshot(path=str(out / "runs.png"), full_page=True)
                page.goto(f"{base}/runs/{geoind.run_id}")
                page.wait_for_selector("#tradeoff .vega svg.marks", timeout=60_000)
                page.wait_for_function(
                    "[...document.querySelectorAll('.charts .vega')]"
                    ".every(e => e.querySelector('svg.marks'))"
                )
                page.screenshot(path=str(out / "run.png"), full_page=True)
                page.locator("#tradeoff").screenshot(path=str(out / "privacy-utility.png"))
                page.locator("#plots .charts").screenshot(path=str(out / "metrics-vs-epsilon.png"))
                page.goto(f"{base}/compare?runs={sweep.run_id}&runs={other.run_id}")
                page.wait_for_selector("#compare-plots .vega svg.marks", timeout=30_000)
                page.screenshot(path=str(out / "compare.png"), full_page=True)
                page.goto(f"{base}/datasets/{data_digest['value']}")
                page.screenshot(path=str(out / "dataset.png"), full_page=True)
                page.goto(f"{base}/workflows/geoind")
                page.screenshot(path=str(out / "workflow.png"), full_page=True)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    for name in sorted(p.name for p in out.iterdir() if not p.name.startswith(".")):
        print(out / name)
    return 0


def write_figures(client: Any, run_id: str, out: Path) -> None:
    """The privacy-utility figure as ``accio plot`` writes it (skipped without vl-convert)."""
    from accio.client.figures import Figures, Options, render

    spec = Figures.of(client, run_id).tradeoff(opts=Options(width=540, height=360))
    if spec is None:
        raise SystemExit("the demo sweep has no trade-off pair")
    try:
        for fmt in ("svg", "pdf", "png"):
            (out / f"figure-privacy-utility.{fmt}").write_bytes(render(spec, fmt))
    except Exception as exc:  # vl-convert is optional: the browser pictures still get written
        print(f"figure files skipped: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
