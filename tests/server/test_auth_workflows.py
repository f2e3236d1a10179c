"""Workflows on a server with authentication: a workflow is its creator's.

Bob may read and run Alice's workflow, but neither push a version of it (which would change
what her ``workflow: ID`` runs mean) nor, by running an older version, make that version the
active one again. An admin may push over anyone's. Over REST and through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.server.test_auth import V1, Team

from accio.cli.main import main
from accio.errors import EXIT_DENIED
from accio.server.app import create_app
from accio.server.auth import allowed_hosts
from accio.server.http import serve_in_thread

ALICE: dict[str, Any] = {
    "id": "awf",
    "params": [{"name": "a", "kind": "double"}],
    "graph": [{"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}}],
}


def _renamed(doc: dict[str, Any], node_name: str) -> dict[str, Any]:
    """Another version of ``doc``: its node renamed."""
    graph = [{**doc["graph"][0], "name": node_name}]
    return {**doc, "graph": graph}


@pytest.fixture
def team(tmp_path: Path) -> Any:
    t = Team(tmp_path)
    yield t
    t.client.close()


def _active(team: Team, wf_id: str) -> tuple[str, str]:
    record = team.client.workflow_record(wf_id)
    return record.version, record.owner


def test_only_the_creator_or_an_admin_pushes_a_version(team: Team) -> None:
    alice, bob, root = team.auth("alice"), team.auth("bob"), team.auth("root")
    first = team.http.post(f"{V1}/workflows", json=ALICE, headers=alice)
    assert first.status_code == 201, first.text
    v1 = _active(team, "awf")
    assert v1[1] == "alice"

    for url in (f"{V1}/workflows", f"{V1}/workflows/awf"):
        refused = team.http.post(url, json=_renamed(ALICE, "Bobs"), headers=bob)
        assert refused.status_code == 403, refused.text
        assert "belongs to alice" in refused.json()["errors"][0]["message"]
    assert _active(team, "awf") == v1
    assert len(team.client.workflow_versions("awf")) == 1 and team.client.runs() == []

    # bob may run alice's workflow as it is: his run, her workflow unchanged
    run = {"definition": {"workflow": "awf", "params": {"a": 1}}}
    ran = team.http.post(f"{V1}/runs", json=run, headers=bob)
    assert ran.status_code == 201, ran.text
    assert team.client.run(ran.json()["run_id"]).owner == "bob"
    assert _active(team, "awf") == v1

    # alice pushes v2; bob running v1 does not make v1 active again
    v2 = team.http.post(f"{V1}/workflows", json=_renamed(ALICE, "Second"), headers=alice)
    assert v2.status_code == 201
    active = _active(team, "awf")
    assert active != v1 and active[1] == "alice"
    old = {"definition": {"workflow": f"awf:{v1[0]}", "params": {"a": 2}}}
    assert team.http.post(f"{V1}/runs", json=old, headers=bob).status_code == 201
    assert _active(team, "awf") == active

    # an admin may push over it; the workflow stays alice's (its creator's)
    by_root = team.http.post(f"{V1}/workflows", json=_renamed(ALICE, "Root"), headers=root)
    assert by_root.status_code == 201
    assert _active(team, "awf")[1] == "root"
    assert team.http.post(f"{V1}/workflows", json=ALICE, headers=alice).status_code == 201
    # a new id is anyone's
    mine = team.http.post(f"{V1}/workflows", json={**ALICE, "id": "bwf"}, headers=bob)
    assert mine.status_code == 201 and _active(team, "bwf")[1] == "bob"


def test_the_cli_says_who_owns_it_and_exits_3(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the real CLI against the server (RemoteClient over the test app)."""
    pushed = team.http.post(f"{V1}/workflows", json=ALICE, headers=team.auth("alice"))
    assert pushed.status_code == 201
    app = create_app(team.settings, team.client, allowed_hosts=allowed_hosts("127.0.0.1"))
    http = serve_in_thread(app, "127.0.0.1", 0)
    try:
        for name in ("ACCIO_CLUSTER", "ACCIO_CLUSTERS_FILE", "ACCIO_CONFIG"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "laptop"))
        monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "laptop-home"))
        monkeypatch.setenv("ACCIO_SERVER", http.url.rstrip("/"))
        monkeypatch.setenv("ACCIO_TOKEN", team.tokens["bob"])
        monkeypatch.setenv("ACCIO_USER", "alice")  # a client-side name changes nothing
        monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
        wf = tmp_path / "awf.json"
        wf.write_text(json.dumps(_renamed(ALICE, "Bobs")))
        capsys.readouterr()
        assert main(["push", str(wf)]) == EXIT_DENIED == 3
        err = capsys.readouterr().err
        assert "belongs to alice" in err and "Traceback" not in err
        assert len(team.client.workflow_versions("awf")) == 1
        monkeypatch.setenv("ACCIO_TOKEN", "not-a-token")
        assert main(["push", str(wf)]) == EXIT_DENIED
        assert "sign in" in capsys.readouterr().err
    finally:
        http.stop()
