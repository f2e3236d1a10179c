"""Workflows on a server with authentication: a workflow is its creator's.

Bob may read and run Alice's workflow, but neither push a version of it (which would change
what her ``workflow: ID`` runs mean) nor, by running an older version, make that version the
active one again. An admin may push over anyone's. Over REST here; through the CLI in
tests/cli/test_auth_cli.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.server.test_auth import V1, Team

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
