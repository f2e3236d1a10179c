"""Accounts and tokens on the server (``ACCIO_AUTH=on``): REST, web UI and CLI.

Anonymous requests get 401, another user's run 403 with nothing changed (an admin may), a
form without the session's CSRF token 403, a wrong Host 400; tokens are stored as hashes only
and a revoked token no longer signs in.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from accio.client.local import LocalClient
from accio.config import Settings
from accio.server.app import create_app
from accio.server.auth import allowed_hosts
from accio.storage import schema
from accio.storage.accounts import UserRecord, new_token
from accio.storage.sql import SqlStorage
from accio.storage.sqlite import open_storage

V1 = "/api/v1"
WORKFLOW: dict[str, Any] = {
    "id": "one",
    "params": [{"name": "a", "kind": "double"}],
    "graph": [{"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}}],
}
BASE = "http://127.0.0.1"


class Team:
    """A home with auth on: alice and bob (users) and root (admin), a token each."""

    def __init__(self, tmp: Path) -> None:
        env = {
            "ACCIO_HOME": str(tmp / "home"),
            "ACCIO_PLUGINS": "accio.testing:operators",
            "ACCIO_USER": "server",
            "ACCIO_AUTH": "on",
        }
        self.settings = Settings.from_env(env)
        self.client = LocalClient(settings=self.settings, autostart=False)
        self.client.push(WORKFLOW)
        self.tokens: dict[str, str] = {}
        self.token_ids: dict[str, str] = {}
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            self.client.storage.add_user(UserRecord(name, admin, 0.0))
            token, rec = new_token(name)
            self.client.storage.add_token(rec)
            self.tokens[name], self.token_ids[name] = token, rec.id
        app = create_app(self.settings, self.client, allowed_hosts=allowed_hosts("127.0.0.1"))
        self.http = TestClient(app, base_url=BASE)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def submit(self, user: str) -> str:
        body = {"definition": {"workflow": "one", "params": {"a": 1}}, "name": "mine"}
        response = self.http.post(f"{V1}/runs", json=body, headers=self.auth(user))
        assert response.status_code == 201, response.text
        return str(response.json()["run_id"])


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path)
    yield t
    t.client.close()


def test_anonymous_requests_get_401(team: Team) -> None:
    body = {"definition": {"workflow": "one", "params": {"a": 1}}}
    assert team.http.post(f"{V1}/runs", json=body).status_code == 401
    assert team.http.get(f"{V1}/runs").status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert team.http.post(f"{V1}/runs", json=body, headers=wrong).status_code == 401
    assert team.http.post(f"{V1}/gc").status_code == 401
    assert team.client.runs() == []
    assert team.http.get("/health").status_code == 200


def test_the_owner_is_the_signed_in_user_not_a_sent_field(team: Team) -> None:
    """No field, query parameter or header lets a client choose a run's owner (the CLI's
    ACCIO_USER: tests/cli/test_auth_cli.py)."""
    alice = team.auth("alice")
    run = {"workflow": "one", "params": {"a": 1}}
    for body in ({"definition": {**run, "owner": "root"}}, {"definition": run, "owner": "root"}):
        refused = team.http.post(f"{V1}/runs", json=body, headers=alice)
        assert refused.status_code == 422, refused.text
        assert "owner" in refused.text
    assert team.client.runs() == []

    sent = team.http.post(
        f"{V1}/runs",
        params={"owner": "root", "user": "root"},
        json={"definition": run},
        headers={**alice, "X-Accio-User": "root", "X-Forwarded-User": "root"},
    )
    assert sent.status_code == 201, sent.text
    run_id = sent.json()["run_id"]
    assert team.client.run(run_id).owner == "alice"
    assert team.http.get(f"{V1}/runs/{run_id}", headers=alice).json()["owner"] == "alice"

    # an edit cannot give a run away, not even its owner's or an admin's
    for user in ("alice", "root"):
        for method in ("PATCH", "POST"):
            url = f"{V1}/runs/{run_id}"
            edit = team.http.request(method, url, json={"owner": "bob"}, headers=team.auth(user))
            assert edit.status_code == 422, (user, method, edit.text)
    assert team.client.run(run_id).owner == "alice"

    # a workflow document's own owner field does not say whose the stored workflow is
    doc = {**WORKFLOW, "id": "bobs", "owner": "root"}
    pushed = team.http.post(f"{V1}/workflows", json=doc, headers=team.auth("bob"))
    assert pushed.status_code == 201, pushed.text
    assert team.client.workflow_record("bobs").owner == "bob"

    listed = team.http.get(f"{V1}/runs", headers=team.auth("bob"))
    assert listed.status_code == 200 and listed.json()["total"] == 1


def test_another_users_run_is_refused_and_unchanged(team: Team) -> None:
    run_id = team.submit("alice")
    bob = team.auth("bob")
    assert (
        team.http.patch(f"{V1}/runs/{run_id}", json={"name": "x"}, headers=bob).status_code == 403
    )
    assert (
        team.http.post(f"{V1}/runs/{run_id}", json={"notes": "x"}, headers=bob).status_code == 403
    )
    assert team.http.post(f"{V1}/runs/{run_id}/kill", headers=bob).status_code == 403
    assert team.http.delete(f"{V1}/runs/{run_id}", headers=bob).status_code == 403
    run = team.client.run(run_id)
    assert run.name == "mine" and run.notes in (None, "") and run.state == "pending"
    assert team.http.post(f"{V1}/gc", headers=bob).status_code == 403
    # the owner may edit, an admin may kill and delete, and collect garbage
    alice = team.auth("alice")
    edited = team.http.patch(f"{V1}/runs/{run_id}", json={"name": "new"}, headers=alice)
    assert edited.status_code == 200 and team.client.run(run_id).name == "new"
    root = team.auth("root")
    assert team.http.post(f"{V1}/runs/{run_id}/kill", headers=root).status_code == 200
    assert team.client.run(run_id).state == "killed"
    assert team.http.delete(f"{V1}/runs/{run_id}", headers=root).status_code == 200
    assert team.client.runs() == []
    assert team.http.post(f"{V1}/gc", headers=root).status_code == 200


def test_tokens_are_stored_hashed_and_a_revoked_token_is_refused(team: Team) -> None:
    storage = team.client.storage
    assert isinstance(storage, SqlStorage)
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.tokens)).all()
    assert len(rows) == 3
    for row in rows:
        assert all(token not in str(value) for value in row for token in team.tokens.values())
    assert team.http.get(f"{V1}/runs", headers=team.auth("bob")).status_code == 200
    storage.revoke_token(team.token_ids["bob"])
    assert team.http.get(f"{V1}/runs", headers=team.auth("bob")).status_code == 401


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""
    base = os.environ.get("ACCIO_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs ACCIO_TEST_POSTGRES_URL")
        pytest.skip("set ACCIO_TEST_POSTGRES_URL to test PostgreSQL")
    import psycopg

    url = sa.make_url(base)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"accio_auth_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_tokens_are_stored_hashed_on_postgresql(postgres_url: str) -> None:
    storage = open_storage(postgres_url)
    try:
        assert storage.engine.dialect.name == "postgresql"
        tokens: dict[str, tuple[str, str]] = {}  # user: (token, id)
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            storage.add_user(UserRecord(name, admin, 0.0))
            token, rec = new_token(name)
            storage.add_token(rec)
            tokens[name] = (token, rec.id)
        with storage.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.tokens)).all()
        assert len(rows) == 3
        for row in rows:
            for token, _ in tokens.values():
                assert all(token not in str(value) for value in row), row
        for name, (token, _) in tokens.items():
            user = storage.authenticate(token)
            assert user is not None and user.name == name
        assert storage.authenticate("not-a-token") is None
        storage.revoke_token(tokens["bob"][1])
        assert storage.authenticate(tokens["bob"][0]) is None
        alice = storage.authenticate(tokens["alice"][0])
        assert alice is not None and alice.name == "alice"
    finally:
        storage.close()


def test_wrong_host_gets_400(team: Team) -> None:
    bad = team.http.get(f"{V1}/runs", headers={**team.auth("alice"), "Host": "evil.example"})
    assert bad.status_code == 400
    ok = team.http.get(f"{V1}/runs", headers={**team.auth("alice"), "Host": "localhost:8765"})
    assert ok.status_code == 200


def _login(team: Team, user: str) -> str:
    """Sign ``user`` in through the login page; the CSRF token of the session's pages."""
    assert team.http.get("/", follow_redirects=False).status_code == 303  # to /login
    wrong = team.http.post("/login", data={"user": user, "token": "nope"})
    assert wrong.status_code == 401
    signed = team.http.post(
        "/login", data={"user": user, "token": team.tokens[user]}, follow_redirects=False
    )
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert team.tokens[user].lower() not in cookie
    page = team.http.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_ui_forms_need_the_csrf_token(team: Team) -> None:
    run_id = team.submit("alice")
    csrf = _login(team, "alice")
    page = team.http.get(f"/runs/{run_id}")
    assert f'name="csrf_token" value="{csrf}"' in page.text  # on every state-changing form
    # a cross-site form post (the cookie rides along, the token does not): refused
    forged = team.http.post(f"/runs/{run_id}/kill", data={}, follow_redirects=False)
    assert forged.status_code == 403
    wrong = team.http.post(f"/runs/{run_id}/kill", data={"csrf_token": "x" * 64})
    assert wrong.status_code == 403
    assert team.http.post(f"{V1}/runs/{run_id}/kill").status_code == 403  # the API too
    assert team.client.run(run_id).state == "pending"
    killed = team.http.post(
        f"/runs/{run_id}/kill", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert killed.status_code == 303 and team.client.run(run_id).state == "killed"
    htmx = team.http.post(
        f"/runs/{run_id}/edit", data={"name": "via htmx"}, headers={"X-CSRF-Token": csrf}
    )
    assert htmx.status_code == 200 and team.client.run(run_id).name == "via htmx"


def test_ui_another_users_run_is_refused(team: Team) -> None:
    run_id = team.submit("alice")
    csrf = _login(team, "bob")
    form = {"csrf_token": csrf, "confirm": run_id[:8]}  # all the route itself asks for
    refused = team.http.post(f"/runs/{run_id}/delete", data=form, follow_redirects=False)
    assert refused.status_code == 403
    assert team.client.run(run_id).state == "pending"


def test_a_revoked_token_ends_its_session(team: Team) -> None:
    _login(team, "alice")
    team.client.storage.revoke_token(team.token_ids["alice"])
    assert team.http.get("/", follow_redirects=False).status_code == 303


def test_cli_users_tokens_and_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json
    import stat

    from accio.cli.main import main
    from accio.server.http import serve_in_thread

    for name in ("ACCIO_SERVER", "ACCIO_DATABASE_URL", "ACCIO_TOKEN", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "laptop"))
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    assert main(["user", "add", "alice"]) == 0
    assert main(["user", "add", "alice"]) == 1  # taken
    assert main(["token", "create", "nobody"]) == 1
    capsys.readouterr()
    assert main(["token", "create", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40

    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "home"), "ACCIO_AUTH": "on"})
    client = LocalClient(settings=settings, autostart=False)
    server = serve_in_thread(
        create_app(settings, client, allowed_hosts=allowed_hosts("127.0.0.1")), "127.0.0.1", 0
    )
    try:
        assert main(["login", server.url, "--token", "wrong"]) == 1
        assert "refused the token" in capsys.readouterr().err
        monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
        assert main(["login", server.url]) == 0
        path = tmp_path / "laptop" / ".config" / "accio" / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text()) == {server.url.rstrip("/"): token}

        monkeypatch.setenv("ACCIO_SERVER", server.url)
        capsys.readouterr()
        assert main(["get", "runs"]) == 0  # the CLI sends the kept token
        assert main(["user", "add", "bob"]) == 1  # accounts live on the server's home
        monkeypatch.delenv("ACCIO_SERVER")
        token_id = client.storage.tokens()[0].id
        assert main(["token", "revoke", token_id]) == 0
        monkeypatch.setenv("ACCIO_SERVER", server.url)
        assert main(["get", "runs"]) != 0  # a revoked token: 401
    finally:
        server.stop()
        client.close()


def test_remote_client_sends_accio_token(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    from accio.client.remote import RemoteClient
    from accio.errors import AccioError
    from accio.server.http import serve_in_thread

    monkeypatch.delenv("ACCIO_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(team.settings.home / "nobody"))  # no credentials file
    app = create_app(team.settings, team.client, allowed_hosts=allowed_hosts("127.0.0.1"))
    server = serve_in_thread(app, "127.0.0.1", 0)
    try:
        run_id = team.submit("alice")
        with RemoteClient(server.url) as anonymous, pytest.raises(AccioError):
            anonymous.runs()
        monkeypatch.setenv("ACCIO_TOKEN", team.tokens["alice"])
        with RemoteClient(server.url) as alice:
            assert [r.id for r in alice.runs()] == [run_id]
        with RemoteClient(server.url, token=team.tokens["bob"]) as bob, pytest.raises(AccioError):
            bob.delete([run_id])
        assert team.client.run(run_id).owner == "alice"
    finally:
        server.stop()
