"""``accio export --out``: a missing folder is created, a file in the way or an unwritable place
is a clean error naming the path (exit 1 or 4), never an internal error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from accio.cli.main import main

WORKFLOW = {
    "id": "ex",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [{"op": "Number", "name": "NumX", "inputs": {"value": {"param": "x"}}}],
}


@pytest.fixture
def run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ex.json").write_text(json.dumps(WORKFLOW))
    from accio.client.client import Client

    with Client(tmp_path / "home", autostart=False) as client:
        client.push(tmp_path / "ex.json")
        sub = client.submit({"workflow": "ex", "params": {"x": 1.0}}, start=False)
        client.execute(executor="inline")
        return sub.run_id


def test_a_missing_folder_is_created(run_id: str, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert main(["export", run_id, "--out", str(target)]) == 0
    assert (target / "results.csv").exists()


def test_a_file_in_the_way_is_a_usage_error(
    run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("keep me")
    assert main(["export", run_id, "--out", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err
    assert "afile" in err and "not a directory" in err and "internal error" not in err
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_an_unwritable_folder_is_a_runtime_error(
    run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["export", run_id, "--out", str(locked / "sub")]) == 4
    assert "cannot write" in capsys.readouterr().err


def test_a_file_where_a_parent_folder_should_be(
    run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain").write_text("")
    assert main(["export", run_id, "--out", str(tmp_path / "plain" / "sub")]) == 4
    err = capsys.readouterr().err
    assert "cannot write" in err and "internal error" not in err
