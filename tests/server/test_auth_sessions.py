"""Signing out of the web UI and listing tokens (``ACCIO_AUTH=on``).

Signing out ends the session on the server, not only in the browser: a copy of the old cookie
replayed afterwards is refused. ``accio token list`` shows token ids, never a token or its
hash, and only an admin may list another user's tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.test_auth import BASE, V1, WORKFLOW, Team, _login

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from accio.client.local import LocalClient
from accio.config import Settings
from accio.server.app import create_app
from accio.server.auth import SESSION_COOKIE, allowed_hosts
from accio.storage.accounts import hash_token, new_token


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path)
    yield t
    t.client.close()


def _replay(team: Team, cookie: str) -> TestClient:
    """A fresh browser holding only ``cookie`` (as someone who copied it would)."""
    other = TestClient(team.http.app, base_url=BASE)
    other.cookies.set(SESSION_COOKIE, cookie)
    return other


def test_pages_show_the_user_and_a_sign_out_form(team: Team) -> None:
    csrf = _login(team, "alice")
    page = team.http.get("/").text
    assert '<span id="signed-in-user">alice</span>' in page
    form = page[page.index('action="/logout"') :]
    form = form[: form.index("</form>")]
    assert f'name="csrf_token" value="{csrf}"' in form and "Sign out" in form
    run_id = team.submit("alice")
    assert 'action="/logout"' in team.http.get(f"/runs/{run_id}").text  # every page


def test_sign_out_ends_the_session_and_a_replayed_cookie_is_refused(team: Team) -> None:
    csrf = _login(team, "alice")
    cookie = team.http.cookies[SESSION_COOKIE]
    out = team.http.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in cleared.lower()
    assert team.http.get("/", follow_redirects=False).headers["location"] == "/login"

    thief = _replay(team, cookie)
    page = thief.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert thief.get(f"{V1}/runs").status_code == 401
    run_id = team.submit("alice")
    kill = thief.post(f"/runs/{run_id}/kill", data={"csrf_token": csrf}, follow_redirects=False)
    assert kill.status_code == 401 and team.client.run(run_id).state == "pending"
    # the token itself still works: signing out ends a session, not the token
    assert team.http.get(f"{V1}/runs", headers=team.auth("alice")).status_code == 200
    _login(team, "alice")
    assert team.http.get("/").status_code == 200


def test_sign_out_ends_only_that_session(team: Team) -> None:
    _login(team, "alice")
    first = team.http.cookies[SESSION_COOKIE]
    team.http.cookies.clear()
    csrf = _login(team, "alice")
    team.http.post("/logout", data={"csrf_token": csrf})
    assert _replay(team, first).get("/", follow_redirects=False).status_code == 200


def test_sign_out_without_the_csrf_token_is_refused(team: Team) -> None:
    _login(team, "alice")
    cookie = team.http.cookies[SESSION_COOKIE]
    forged = team.http.post("/logout", data={}, follow_redirects=False)
    assert forged.status_code == 403
    wrong = team.http.post("/logout", data={"csrf_token": "x" * 64}, follow_redirects=False)
    assert wrong.status_code == 403
    # nothing ended: a cross-site page cannot sign anyone out
    assert _replay(team, cookie).get("/", follow_redirects=False).status_code == 200


def test_without_auth_there_is_no_sign_out(tmp_path: Path) -> None:
    env = {"ACCIO_HOME": str(tmp_path / "home"), "ACCIO_PLUGINS": "accio.testing:operators"}
    settings = Settings.from_env(env)
    with LocalClient(settings=settings, autostart=False) as client:
        client.push(WORKFLOW)
        app = create_app(settings, client, allowed_hosts=allowed_hosts("127.0.0.1"))
        page = TestClient(app, base_url=BASE).get("/")
        assert page.status_code == 200
        assert "Sign out" not in page.text and 'action="/logout"' not in page.text


def test_ui_edit_of_another_users_run_is_refused(team: Team) -> None:
    """Bob, signed in with his own session and its CSRF token, edits Alice's run: 403."""
    run_id = team.submit("alice")
    csrf = _login(team, "bob")
    form = {"name": "x", "notes": "bob was here", "tags": "bobs", "csrf_token": csrf}
    refused = team.http.post(f"/runs/{run_id}/edit", data=form, follow_redirects=False)
    assert refused.status_code == 403, refused.text
    assert "belongs to alice" in refused.text
    htmx = team.http.post(
        f"/runs/{run_id}/edit",
        data={"name": "x"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert htmx.status_code == 403
    run = team.client.run(run_id)
    assert (run.name, run.notes or "", list(run.tags), run.owner) == ("mine", "", [], "alice")


def test_ui_kill_of_another_users_run_is_refused(team: Team) -> None:
    """Bob, signed in with his own session and its CSRF token, kills Alice's run: 403."""
    run_id = team.submit("alice")
    csrf = _login(team, "bob")
    refused = team.http.post(
        f"/runs/{run_id}/kill", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403, refused.text
    assert "belongs to alice" in refused.text
    assert team.client.run(run_id).state == "pending"
    # his own run he may kill from the same session
    own = team.submit("bob")
    killed = team.http.post(f"/runs/{own}/kill", data={"csrf_token": csrf}, follow_redirects=False)
    assert killed.status_code == 303 and team.client.run(own).state == "killed"


def test_ui_rerun_and_edit_never_change_whose_a_run_is(team: Team) -> None:
    """A re-run of Alice's run by Bob is Bob's new run (hers untouched); an edit form carrying
    an owner field leaves the owner as it was."""
    run_id = team.submit("alice")
    csrf = _login(team, "bob")
    rerun = team.http.post(
        f"/runs/{run_id}/rerun", data={"csrf_token": csrf, "seed": "same"}, follow_redirects=False
    )
    assert rerun.status_code == 303, rerun.text
    new_id = rerun.headers["location"].rsplit("/", 1)[1]
    assert new_id != run_id and team.client.run(new_id).owner == "bob"
    assert team.client.run(run_id).owner == "alice"

    team.http.cookies.clear()
    csrf = _login(team, "alice")
    form = {"name": "renamed", "owner": "bob", "csrf_token": csrf}
    edited = team.http.post(f"/runs/{run_id}/edit", data=form, follow_redirects=False)
    assert edited.status_code == 303
    run = team.client.run(run_id)
    assert (run.name, run.owner) == ("renamed", "alice")


def _cli(team: Team, user: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The real ``accio`` command, as ``user``, on the team server's home."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(team.settings.home.parent / "operator"),
        "ACCIO_HOME": str(team.settings.home),
        "ACCIO_USER": user,
        "ACCIO_PLUGINS": "accio.testing:operators",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "accio.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _assert_no_secret(team: Team, text: str) -> None:
    for token in team.tokens.values():
        assert token not in text and hash_token(token) not in text


def test_token_list_shows_ids_and_never_a_secret(team: Team) -> None:
    second, rec = new_token("alice")
    team.client.storage.add_token(rec)
    team.client.storage.revoke_token(rec.id)
    team.tokens["alice2"] = second

    mine = _cli(team, "alice", "token", "list")
    assert mine.returncode == 0, mine.stderr
    assert team.token_ids["alice"] in mine.stdout and rec.id in mine.stdout
    assert team.token_ids["bob"] not in mine.stdout and team.token_ids["root"] not in mine.stdout
    assert "yes" in mine.stdout.splitlines()[2]  # the second token: revoked
    _assert_no_secret(team, mine.stdout + mine.stderr)

    listed = _cli(team, "alice", "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["user"], r["revoked"] is None) for r in rows] == [
        (team.token_ids["alice"], "alice", True),
        (rec.id, "alice", False),
    ]
    assert all(set(r) == {"id", "user", "created", "revoked"} for r in rows)
    _assert_no_secret(team, listed.stdout)

    everyone = _cli(team, "root", "token", "list", "--all", "--json")
    assert everyone.returncode == 0, everyone.stderr
    assert {r["id"] for r in json.loads(everyone.stdout)} == {*team.token_ids.values(), rec.id}
    _assert_no_secret(team, everyone.stdout)
    bobs = _cli(team, "root", "token", "list", "bob")
    assert bobs.returncode == 0 and team.token_ids["bob"] in bobs.stdout
    _assert_no_secret(team, bobs.stdout)


def test_a_non_admin_cannot_list_another_users_tokens(team: Team) -> None:
    for args in (("bob",), ("root", "--json"), ("--all",)):
        refused = _cli(team, "alice", "token", "list", *args)
        assert refused.returncode == 1
        assert "only an admin may list" in refused.stderr and "Traceback" not in refused.stderr
        assert refused.stdout == ""
    stranger = _cli(team, "mallory", "token", "list", "alice")
    assert stranger.returncode == 1 and stranger.stdout == ""


def test_token_and_user_list_refuse_a_remote_server(team: Team, tmp_path: Path) -> None:
    remote = {"ACCIO_SERVER": "http://127.0.0.1:9"}
    for args in (("token", "list"), ("user", "list")):
        refused = _cli(team, "root", *args, **remote)
        assert refused.returncode == 1 and "managed on the server's home" in refused.stderr
    clusters = str(tmp_path / "clusters.toml")
    added = _cli(
        team,
        "root",
        "cluster",
        "add",
        "lab",
        "http://127.0.0.1:9",
        "--default",
        ACCIO_CLUSTERS_FILE=clusters,
    )
    assert added.returncode == 0, added.stderr
    by_default = _cli(team, "root", "token", "list", ACCIO_CLUSTERS_FILE=clusters)
    assert by_default.returncode == 1 and "managed on the server's home" in by_default.stderr
    local = _cli(team, "root", "--cluster", "local", "user", "list", ACCIO_CLUSTERS_FILE=clusters)
    assert local.returncode == 0, local.stderr


def test_user_list(team: Team) -> None:
    done = _cli(team, "alice", "user", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert [(u["name"], u["admin"]) for u in json.loads(done.stdout)] == [
        ("alice", False),
        ("bob", False),
        ("root", True),
    ]
