"""Screenshots of the web UI: the runs list, a sweep's page and its privacy-utility plot.

Builds a demo-like sweep with the test operators in a fresh Accio home, serves the UI on a
loopback port and drives Debian's headless Chromium through Playwright::

    python scripts/screenshots.py                 # PNGs in screenshots/
    python scripts/screenshots.py --out /tmp/shots --chromium /usr/bin/chromium
"""

from __future__ import annotations

import argparse
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
        client.submit(
            {"workflow": "noisy_release", "name": "baseline", "params": {"scale": 0.1}, "seed": 1}
        )
        client.submit({**SWEEP, "name": "small data only", "params": {"scale": {"values": [1]}}})
        client.execute("inline", timeout=300)
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
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(base + "/")
                page.screenshot(path=str(out / "runs.png"), full_page=True)
                page.goto(f"{base}/runs/{sweep.run_id}")
                page.wait_for_selector("#tradeoff .vega svg", timeout=30_000)
                page.screenshot(path=str(out / "run.png"), full_page=True)
                spec = "(document.querySelector('#tradeoff .vega')?.dataset.spec || '')"
                page.select_option("#tradeoff select[name=x]", "Privacy/value")
                page.wait_for_function(f"{spec}.includes('against Privacy/value')")
                page.select_option("#tradeoff select[name=y]", "Error/sum")
                page.wait_for_function(f"{spec}.includes('Error/sum against Privacy/value')")
                page.wait_for_selector("#tradeoff .vega svg.marks", timeout=30_000)
                page.locator("#tradeoff").screenshot(path=str(out / "privacy-utility.png"))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    for name in ("runs.png", "run.png", "privacy-utility.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
