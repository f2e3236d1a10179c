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
        {"Origin": "http://127.0.0.1:9999"},  # same host, another port: another origin
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
