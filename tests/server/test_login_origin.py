"""Login CSRF: a page of another site that posts its own token to ``/login`` would sign the
visitor's browser in as someone else (whose runs they would then edit). The sign-in form is
accepted only from the server's own pages (Origin, else Referer, names this host)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.server.test_auth import BASE, Team

from accio.server.auth import SESSION_COOKIE
from accio.storage import schema


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path)
    yield t
    t.client.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Referer": "https://evil.example/page.html"},
        {"Origin": "http://127.0.0.2:8765"},  # another host, even on loopback
        {"Origin": "http://"},  # no host at all
    ],
)
def test_a_sign_in_posted_from_another_site_is_refused(
    team: Team, headers: dict[str, str]
) -> None:
    form = {"user": "bob", "token": team.tokens["bob"]}
    refused = team.http.post("/login", data=form, headers=headers, follow_redirects=False)
    assert refused.status_code == 403
    assert "own sign-in page" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    with team.client.storage.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.sessions)).scalar() == 0
    assert "/login" in team.http.get("/", follow_redirects=False).headers["location"]


def test_a_sign_in_from_the_servers_own_page_or_a_script_is_accepted(team: Team) -> None:
    form = {"user": "bob", "token": team.tokens["bob"]}
    for headers in ({"Origin": BASE}, {"Referer": f"{BASE}/login"}, {}):
        done = team.http.post("/login", data=form, headers=headers, follow_redirects=False)
        assert done.status_code == 303, (headers, done.text)
        assert SESSION_COOKIE in done.headers["set-cookie"]


def test_behind_a_reverse_proxy_the_public_name_is_this_server(tmp_path: Path) -> None:
    """nginx's default ``proxy_set_header Host $proxy_host`` sends the backend's address, the
    browser's Origin names the public host (in ``ACCIO_ALLOWED_HOSTS``) on port 443: the
    sign-in is accepted; another site still is not."""
    from fastapi.testclient import TestClient

    from accio.server.app import create_app
    from accio.server.auth import allowed_hosts

    team = Team(tmp_path)
    try:
        hosts = allowed_hosts("127.0.0.1", ["accio.lab.example"])
        app = create_app(team.settings, team.client, allowed_hosts=hosts)
        proxied = TestClient(app, base_url="http://127.0.0.1:8765")
        form = {"user": "bob", "token": team.tokens["bob"]}
        for origin in ("https://accio.lab.example", "https://accio.lab.example:8443"):
            done = proxied.post(
                "/login", data=form, headers={"Origin": origin}, follow_redirects=False
            )
            assert done.status_code == 303, (origin, done.text)
        evil = proxied.post(
            "/login", data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False
        )
        assert evil.status_code == 403
    finally:
        team.client.close()
