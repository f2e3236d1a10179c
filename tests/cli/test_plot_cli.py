"""``accio plot``: the UI's figures as files, from the same Vega-Lite specs.

A finished sweep (executed inline, no scheduler) on a temporary home with the test operators;
``main`` runs in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from accio.cli.main import main
from accio.client.client import Client
from accio.client.figures import Figures
from accio.config import Settings

WORKFLOW: dict[str, Any] = {
    "id": "plotted",
    "params": [{"name": "scale", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Privacy", "inputs": {"value": {"param": "scale"}}},
        {"op": "Noise", "name": "Error", "inputs": {"value": {"param": "scale"}}},
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "plotted",
    "name": "scales",
    "seed": 5,
    "repeat": 3,
    "params": {"scale": {"from": 0.001, "to": 10, "log": True}},
}


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("ACCIO_SERVER", "ACCIO_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_CPUS", "1")
    monkeypatch.chdir(tmp_path)
    with Client(settings=Settings.from_env(), autostart=False) as c:
        c.push(WORKFLOW)
        run_id = c.submit(SWEEP).run_id
        c.execute("inline", timeout=120)
    return run_id


def test_plot_json_is_the_ui_spec(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", sweep[:8], "--format", "json", "--out", "t.json", "--width", "300"]) == 0
    spec = json.loads(Path("t.json").read_text())
    with Client(settings=Settings.from_env(), autostart=False) as c:
        ui = Figures.of(c, sweep).tradeoff(opts=None)
    assert ui is not None and spec["data"] == ui["data"] and spec["width"] == 300
    assert [p["label"] for p in spec["data"]["values"]] == ["0.001", "0.01", "0.1", "1", "10"]
    assert spec["usermeta"]["y"] == "Privacy/value"  # default: headline outputs of 2 nodes
    assert spec["layer"][2]["encoding"]["y"]["scale"] == {"type": "log"}  # 4 decades
    assert main(["plot", sweep, "--format", "json", "--out", "lin.json", "--log", "none"]) == 0
    lin = json.loads(Path("lin.json").read_text())
    assert lin["layer"][2]["encoding"]["y"]["scale"] == {"zero": False}
    assert main(["plot", sweep, "--list"]) == 0
    listed = capsys.readouterr().out
    assert "parameter scale" in listed and "metric Error/value: Error: value" in listed


def test_plot_files(sweep: str, tmp_path: Path) -> None:
    pytest.importorskip("vl_convert", reason="vl-convert-python is not installed")
    assert main(["plot", sweep, "--out", "fig.pdf", "--font-size", "14"]) == 0
    assert Path("fig.pdf").read_bytes()[:5] == b"%PDF-"
    assert main(["plot", sweep, "--pair", "Privacy/value,Error/value", "--format", "png"]) == 0
    assert Path("tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", sweep, "--x", "scale", "--out", "figs", "--format", "svg"]) == 0
    written = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert written == ["Error-value-vs-scale.svg", "Privacy-value-vs-scale.svg"]
    svg = (tmp_path / "figs" / "Error-value-vs-scale.svg").read_text()
    assert svg.startswith("<svg") and "Error: value" in svg


def test_plot_usage_errors(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", sweep, "--pair", "Nope/x,Error/value"]) == 1
    assert "no numeric output 'Nope/x'" in capsys.readouterr().err
    assert main(["plot", sweep, "--x", "unswept"]) == 1
    assert "'unswept' is not swept" in capsys.readouterr().err
    assert main(["plot", sweep, "--pair", "a"]) == 1
