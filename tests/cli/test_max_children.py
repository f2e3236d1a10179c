"""The sweep-size cap comes from Settings ($ACCIO_MAX_CHILDREN) in every command that builds a
sweep, and is checked before anything is expanded or stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accio.cli.main import main

WORKFLOW = {
    "id": "capped",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [{"op": "Number", "name": "NumX", "inputs": {"value": {"param": "x"}}}],
}
RUN = {"workflow": "capped", "repeat": 3, "params": {"x": {"values": [1, 2, 3, 4]}}}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    (tmp_path / "capped.json").write_text(json.dumps(WORKFLOW))
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    return tmp_path


@pytest.mark.parametrize("verb", ["validate", "expand", "submit"])
def test_a_sweep_over_the_configured_cap_is_refused(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    monkeypatch.setenv("ACCIO_MAX_CHILDREN", "11")
    argv = [verb, str(files / "run.json")]
    if verb == "submit":
        argv.append("--quiet")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "12 children" in err and "11" in err and "Traceback" not in err
    if verb == "submit":
        assert _no_runs(files)


def test_the_same_sweep_under_the_cap_expands(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCIO_MAX_CHILDREN", "12")
    assert main(["expand", str(files / "run.json"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["children"]) == 12


def _no_runs(files: Path) -> bool:
    from accio.client.client import Client

    with Client(files / "home", autostart=False) as client:
        return client.count_runs() == 0
