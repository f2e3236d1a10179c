"""The real CLI against a team server with authentication on (``ACCIO_AUTH=on``).

``accio.cli.main.main`` runs in this process as a user on a laptop would run it: a home of
its own, ``ACCIO_SERVER`` naming a real HTTP server on loopback, ``ACCIO_TOKEN`` saying who
they are. A refusal by the server (401/403) exits 3 with the server's reason on stderr and no
traceback, and changes nothing in the server's storage; reading is for every signed-in user; an
admin may kill and delete anyone's run. The owner of what the CLI creates is the token's user,
whatever the client's ``ACCIO_USER`` or the files it sends say.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.server.test_auth import V1, WORKFLOW, Team
from tests.server.test_auth_workflows import ALICE, _renamed

from accio.cli.main import main
from accio.errors import EXIT_DENIED, NotFoundError
from accio.server.app import create_app
from accio.server.auth import allowed_hosts
from accio.server.http import serve_in_thread


@dataclass
class Cli:
    """``accio ARGS`` as a signed-in user (or anonymous) against the team's server."""

    team: Team
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, user: str | None, *args: str) -> tuple[int, str, str]:
        if user is None:
            self.monkeypatch.delenv("ACCIO_TOKEN", raising=False)
        else:
            self.monkeypatch.setenv("ACCIO_TOKEN", self.team.tokens[user])
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def denied(self, user: str | None, *args: str) -> str:
        """Run a command the server must refuse: exit 3, no traceback; its stderr."""
        code, out, err = self(user, *args)
        assert code == EXIT_DENIED == 3, (args, out, err)
        assert "Traceback" not in err and err.strip(), (args, err)
        return err


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    team = Team(tmp_path)
    app = create_app(team.settings, team.client, allowed_hosts=allowed_hosts("127.0.0.1"))
    server = serve_in_thread(app, "127.0.0.1", 0)
    try:
        for name in [n for n in os.environ if n.startswith("ACCIO_")] + ["XDG_CONFIG_HOME"]:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "laptop"))  # no credentials, no clusters
        monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "laptop-home"))
        monkeypatch.setenv("ACCIO_SERVER", server.url.rstrip("/"))
        monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
        yield Cli(team, monkeypatch, capsys)
    finally:
        server.stop()
        team.client.close()


def test_anonymous_writes_exit_3_and_create_nothing(cli: Cli) -> None:
    err = cli.denied(None, "submit", "one", "a=1", "--no-start")
    assert "sign in" in err
    assert cli.team.client.runs() == []
    run_id = cli.team.submit("alice")
    for args in (("kill", run_id), ("delete", "run", run_id), ("edit", run_id, "--name", "x")):
        assert "sign in" in cli.denied(None, *args)
    assert "sign in" in cli.denied(None, "get", "runs")  # reading needs a token too
    run = cli.team.client.run(run_id)
    assert (run.state, run.name) == ("pending", "mine")
    assert [r.id for r in cli.team.client.runs()] == [run_id]


def test_another_users_run_exits_3_and_is_unchanged(cli: Cli) -> None:
    run_id = cli.team.submit("alice")
    for args in (
        ("kill", run_id),
        ("edit", run_id, "--name", "x"),
        ("edit", run_id, "--notes", "bob was here", "--add-tag", "bobs"),
        ("delete", "run", run_id),
    ):
        err = cli.denied("bob", *args)
        assert f"run {run_id} belongs to alice" in err, (args, err)
    run = cli.team.client.run(run_id)
    assert (run.state, run.name, run.notes or "", list(run.tags), run.owner) == (
        "pending",
        "mine",
        "",
        [],
        "alice",
    )
    assert "only an admin may collect garbage" in cli.denied("bob", "gc")
    assert "only an admin" in cli.denied("bob", "gc", "--keep-last", "0")
    assert [r.id for r in cli.team.client.runs()] == [run_id]


def test_reading_is_for_every_signed_in_user(cli: Cli) -> None:
    run_id = cli.team.submit("alice")
    code, out, err = cli("bob", "get", "runs", "--json")
    assert code == 0, err
    assert [(r["id"], r["owner"]) for r in json.loads(out)] == [(run_id, "alice")]
    code, out, err = cli("bob", "describe", "run", run_id)
    assert code == 0 and run_id in out, err


def test_an_admin_kills_and_deletes_anyones_run(cli: Cli) -> None:
    run_id = cli.team.submit("alice")
    code, _, err = cli("root", "kill", run_id)
    assert code == 0, err
    assert cli.team.client.run(run_id).state == "killed"
    code, _, err = cli("root", "delete", "run", run_id)
    assert code == 0, err
    with pytest.raises(NotFoundError):
        cli.team.client.run(run_id)
    code, _, err = cli("root", "gc")
    assert code == 0, err


def test_the_owner_is_the_tokens_user_not_the_clients_accio_user(cli: Cli, tmp_path: Path) -> None:
    cli.monkeypatch.setenv("ACCIO_USER", "root")  # the client's own name: sent nowhere
    code, out, err = cli("alice", "submit", "one", "a=1", "--quiet", "--no-start")
    assert code == 0, err
    run_id = out.strip()
    assert cli.team.client.run(run_id).owner == "alice"

    # a workflow file naming an owner: the run and the workflow are still alice's
    wf = tmp_path / "theirs.json"
    wf.write_text(json.dumps({**WORKFLOW, "id": "theirs", "owner": "root"}))
    code, out, err = cli("alice", "submit", "theirs", "a=2", "--workflow", str(wf), "--quiet")
    assert code == 0, err
    assert cli.team.client.run(out.strip()).owner == "alice"
    assert cli.team.client.workflow_record("theirs").owner == "alice"

    # a run file naming an owner is refused (no such key), nothing created
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps({"workflow": "one", "params": {"a": 3}, "owner": "root"}))
    code, _, err = cli("alice", "submit", str(run_file), "--quiet")
    assert code == 2 and "owner" in err, err
    assert {r.owner for r in cli.team.client.runs()} == {"alice"}
    assert len(cli.team.client.runs()) == 2


def test_pushing_over_another_users_workflow_exits_3_saying_whose(
    cli: Cli, tmp_path: Path
) -> None:
    team = cli.team
    pushed = team.http.post(f"{V1}/workflows", json=ALICE, headers=team.auth("alice"))
    assert pushed.status_code == 201
    cli.monkeypatch.setenv("ACCIO_USER", "alice")  # a client-side name changes nothing
    wf = tmp_path / "awf.json"
    wf.write_text(json.dumps(_renamed(ALICE, "Bobs")))
    assert "belongs to alice" in cli.denied("bob", "push", str(wf))
    assert len(team.client.workflow_versions("awf")) == 1
    cli.monkeypatch.setenv("ACCIO_TOKEN", "not-a-token")
    cli.capsys.readouterr()
    assert main(["push", str(wf)]) == EXIT_DENIED
    assert "sign in" in cli.capsys.readouterr().err
