"""``accio cluster ...`` and ``accio --cluster NAME``: named servers, end to end.

Two real servers with ``ACCIO_AUTH=on`` (each its own home, user and token) are named in the
clusters file; ``--cluster``/``-cluster=``/``$ACCIO_CLUSTER``/the default send the CLI to the
right one, with the token ``accio login`` kept in that file.
"""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accio.cli.main import main
from accio.client.local import LocalClient
from accio.config import Settings
from accio.errors import EXIT_USAGE

WORKFLOW: dict[str, Any] = {
    "id": "one",
    "params": [{"name": "a", "kind": "double"}],
    "graph": [{"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}}],
}
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with no server, no cluster and no token in the environment."""
    for name in (
        "ACCIO_SERVER", "ACCIO_CLUSTER", "ACCIO_CLUSTERS_FILE", "ACCIO_TOKEN", "ACCIO_CONFIG",
        "ACCIO_DATABASE_URL", "ACCIO_AUTH", "XDG_CONFIG_HOME",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "laptop"))
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "laptop-home"))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    return tmp_path / "laptop" / ".config" / "accio" / "clusters.toml"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def test_add_list_default_remove(laptop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "cluster", "add", "team", "http://team.example:8765/", "--default")[0] == 0
    assert _run(capsys, "cluster", "add", "lab", "https://lab.example/accio")[0] == 0
    assert stat.S_IMODE(laptop.stat().st_mode) == 0o600
    code, out, _ = _run(capsys, "cluster", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"name": "team", "url": "http://team.example:8765", "default": True, "token": False},
        {"name": "lab", "url": "https://lab.example/accio", "default": False, "token": False},
    ]
    code, out, _ = _run(capsys, "cluster", "list")
    marked = [line.split() for line in out.splitlines() if line.startswith("*")]
    assert marked == [["*", "team", "http://team.example:8765", "no"]]
    assert _run(capsys, "cluster", "default", "lab")[0] == 0
    assert [
        c["name"] for c in json.loads(_run(capsys, "cluster", "list", "--json")[1]) if c["default"]
    ] == ["lab"]
    code, _, err = _run(capsys, "cluster", "default", "nope")
    assert code == EXIT_USAGE and "unknown cluster 'nope' (known: team, lab;" in err
    assert _run(capsys, "cluster", "remove", "lab")[0] == 0
    assert [c["name"] for c in json.loads(_run(capsys, "cluster", "list", "--json")[1])] == [
        "team"
    ]
    assert "default =" not in laptop.read_text()  # the default went with lab
    code, _, err = _run(capsys, "cluster", "remove", "lab")
    assert code == EXIT_USAGE and "unknown cluster 'lab'" in err


def test_tokens_are_never_listed_and_survive_only_on_the_same_url(
    laptop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    laptop.parent.mkdir(parents=True)
    laptop.write_text('[clusters.team]\nurl = "http://h:1"\ntoken = "SECRET-TOKEN"\n')
    for argv in (["cluster", "list"], ["cluster", "list", "--json"]):
        code, out, err = _run(capsys, *argv)
        assert code == 0 and "SECRET" not in out + err
    assert json.loads(_run(capsys, "cluster", "list", "--json")[1])[0]["token"] is True
    assert _run(capsys, "cluster", "add", "team", "http://h:1/")[0] == 0  # same URL: kept
    assert "SECRET-TOKEN" in laptop.read_text()
    assert _run(capsys, "cluster", "add", "team", "http://elsewhere:1")[0] == 0
    assert "SECRET-TOKEN" not in laptop.read_text()  # never sent to another server


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cluster", "add", "a b", "http://h:1"], "bad cluster name 'a b'"),
        (["cluster", "add", "local", "http://h:1"], "reserved for the local home"),
        (["cluster", "add", "x", "h:1"], "bad server URL 'h:1'"),
        (["--cluster", "nope", "get", "runs"], "unknown cluster 'nope' (known: team;"),
        (["-cluster=nope", "get", "runs"], "unknown cluster 'nope'"),
        (["get", "runs", "-cluster", "nope"], "unknown cluster 'nope'"),
        (["get", "runs", "--cluster"], "--cluster needs a cluster NAME"),
    ],
)
def test_bad_names_and_urls_are_usage_errors(
    laptop: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert _run(capsys, "cluster", "add", "team", UNREACHABLE)[0] == 0
    code, _, err = _run(capsys, *argv)
    assert code == EXIT_USAGE and message in err and "Traceback" not in err


def test_a_broken_file_names_itself_and_the_field(
    laptop: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    laptop.parent.mkdir(parents=True)
    laptop.write_text('[clusters.team]\nurl = "http://h:1"\ncolour = "red"\n')
    for argv in (["get", "runs"], ["cluster", "list"], ["--cluster", "team", "get", "runs"]):
        code, _, err = _run(capsys, *argv)
        assert code == EXIT_USAGE
        assert f"ERROR: {laptop}: clusters.team: colour: unknown key" in err
    monkeypatch.setenv("ACCIO_SERVER", UNREACHABLE)  # its token could be in the file: read
    assert "colour: unknown key" in _run(capsys, "get", "runs")[2]
    monkeypatch.setenv("ACCIO_TOKEN", "t")  # an explicit URL and token do not need the file
    assert "cannot reach the Accio server at http://127.0.0.1:9" in _run(capsys, "get", "runs")[2]


def test_selection_order_on_the_command_line(
    laptop: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreachable servers on distinct ports: the error names the one the CLI chose."""

    def went_to() -> str:
        code, _, err = _run(capsys, "get", "runs", *extra)
        if code == 0:
            return "local"
        assert "cannot reach the Accio server at http://127.0.0.1:" in err, err
        return err.split("http://127.0.0.1:")[1].split(":")[0]

    _run(capsys, "cluster", "add", "a", "http://127.0.0.1:11")
    _run(capsys, "cluster", "add", "b", "http://127.0.0.1:12")
    extra: list[str] = []
    assert went_to() == "local"  # no default: the embedded home
    _run(capsys, "cluster", "default", "a")
    assert went_to() == "11"
    monkeypatch.setenv("ACCIO_SERVER", "http://127.0.0.1:13")
    assert went_to() == "13"  # an explicit URL beats the default
    monkeypatch.setenv("ACCIO_CLUSTER", "b")
    assert went_to() == "12"  # a name beats a URL
    extra = ["--cluster", "a"]
    assert went_to() == "11"  # and the flag beats everything
    extra = ["--cluster=local"]
    assert went_to() == "local"
    monkeypatch.setenv("ACCIO_CLUSTER", "local")
    extra = []
    assert went_to() == "local"
    code, _, err = _run(capsys, "--cluster", "a", "user", "add", "x")
    assert code == EXIT_USAGE and "--cluster local" in err  # accounts live on the server's home


def test_server_start_and_stop_refuse_a_named_cluster_instead_of_acting_on_this_machine(
    laptop: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'accio server start|stop' act on this machine's scheduler: with a cluster named,
    'accio --cluster team server stop' stopped the local one (and start started it). A named
    cluster is refused; 'local' still works."""
    from accio.engine import daemon

    _run(capsys, "cluster", "add", "team", UNREACHABLE)
    home = Path(Settings.from_env().home)
    assert _run(capsys, "server", "start", "--no-http")[0] == 0
    try:
        for argv in (
            ("--cluster", "team", "server", "stop"),
            ("server", "stop", "-cluster=team"),
            ("--cluster", "team", "server", "start"),
        ):
            code, out, err = _run(capsys, *argv)
            assert code == EXIT_USAGE, (argv, out, err)
            assert "--cluster local" in err and "'team'" in err
            assert daemon.is_running(home)  # this machine's scheduler was left alone
        monkeypatch.setenv("ACCIO_CLUSTER", "team")
        code, _, err = _run(capsys, "server", "stop")
        assert code == EXIT_USAGE and "--cluster local" in err
        assert daemon.is_running(home)
        assert _run(capsys, "--cluster", "local", "server", "stop")[0] == 0
        assert not daemon.is_running(home)
    finally:
        daemon.stop(home)


def test_every_new_token_passes_as_the_login_flags_value() -> None:
    """'accio login --token TOKEN' with what 'accio token create' printed: a token starting
    with '-' (1 in 64 of token_urlsafe's) read as a flag, so login failed ('expected one
    argument') or the single-dash rewriting mangled it."""
    from accio.cli.main import build_parser, normalise_flags, split_cluster
    from accio.storage.accounts import new_token

    parser = build_parser("login")
    for _ in range(2000):
        token = new_token("ada")[0]
        _, argv = split_cluster(normalise_flags(["login", "--token", token]))
        assert parser.parse_args(argv).token == token


@dataclass
class Server:
    """A real HTTP server with auth on, over its own home, with one user and their token."""

    url: str
    home: LocalClient
    user: str
    token: str
    stop: Any


@pytest.fixture
def servers(
    tmp_path: Path,
    laptop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Server, Server]]:
    from accio.server.app import create_app
    from accio.server.auth import allowed_hosts
    from accio.server.http import serve_in_thread

    started: list[Server] = []
    for name, user in (("team", "alice"), ("other", "bob")):
        home = tmp_path / f"{name}-home"
        monkeypatch.setenv("ACCIO_HOME", str(home))  # the admin's CLI on the server's machine
        assert main(["user", "add", user]) == 0
        capsys.readouterr()
        assert main(["token", "create", user]) == 0
        token = capsys.readouterr().out.strip()
        settings = Settings.from_env(
            {
                "ACCIO_HOME": str(home),
                "ACCIO_AUTH": "on",
                "ACCIO_PLUGINS": "accio.testing:operators",
            }
        )
        client = LocalClient(settings=settings, autostart=False)
        client.push(WORKFLOW)
        app = create_app(settings, client, allowed_hosts=allowed_hosts("127.0.0.1"))
        http = serve_in_thread(app, "127.0.0.1", 0)
        started.append(Server(http.url.rstrip("/"), client, user, token, http.stop))
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "laptop-home"))
    try:
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()
            server.home.close()


def test_named_servers_end_to_end(
    servers: tuple[Server, Server],
    laptop: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team, other = servers
    assert _run(capsys, "cluster", "add", "team", team.url, "--default")[0] == 0
    assert _run(capsys, "cluster", "add", "other", other.url)[0] == 0
    code, _, err = _run(capsys, "get", "runs")
    assert code != 0 and "sign in: a valid token is required" in err, err  # not signed in yet

    # accio login: the token of the default cluster, from standard input, kept in its entry
    assert _run(capsys, "login", "--token", "wrong")[0] == EXIT_USAGE
    monkeypatch.setattr("sys.stdin", io.StringIO(team.token + "\n"))
    code, out, _ = _run(capsys, "login")
    assert code == 0 and f"token kept in {laptop}" in out
    # the other one with the flag after the verb, in the original's spelling
    assert _run(capsys, "login", "-cluster=other", "--token", other.token)[0] == 0
    assert stat.S_IMODE(laptop.stat().st_mode) == 0o600
    kept = laptop.read_text()
    assert team.token in kept and other.token in kept
    assert not (laptop.parent / "credentials.json").exists()  # named servers keep theirs here
    code, _, err = _run(capsys, "--cluster", "team", "login", other.url, "--token", team.token)
    assert code == EXIT_USAGE and "is not cluster team's URL" in err

    # a run submitted to the default goes to team's home, owned by the token's user
    code, out, _ = _run(capsys, "submit", "one", "a=1")
    assert code == 0
    team_run = out.split("Created run ")[1].split()[0]
    assert team.home.run(team_run).owner == "alice"
    code, out, _ = _run(capsys, "--cluster", "other", "submit", "one", "a=2")
    assert code == 0
    other_run = out.split("Created run ")[1].split()[0]
    assert other.home.run(other_run).owner == "bob"
    assert team.home.runs()[0].id == team_run and other.home.runs()[0].id == other_run

    def listed(*argv: str) -> list[str]:
        code, out, err = _run(capsys, *argv, "get", "runs", "--json")
        assert code == 0, err
        return [r["id"] for r in json.loads(out)]

    assert listed() == [team_run]
    assert listed("-cluster=other") == [other_run]
    assert listed("-cluster", "team") == [team_run]
    monkeypatch.setenv("ACCIO_CLUSTER", "other")
    assert listed() == [other_run]
    assert listed("--cluster", "local") == []  # the laptop's own home
    monkeypatch.delenv("ACCIO_CLUSTER")

    # exactly as ACCIO_SERVER=url: server status counts the chosen server's runs
    # and that server's scheduler (none runs for it here), never this laptop's
    code, out, _ = _run(capsys, "--cluster", "other", "server", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["active_runs"]["pending"] == 1
    assert (status["remote"], status["cluster"], status["url"]) == (True, "other", other.url)
    assert status["running"] is False and "home" not in status

    # a bare URL (the pre-cluster way) finds the token kept with the cluster of that URL
    monkeypatch.setenv("ACCIO_SERVER", team.url)
    assert listed() == [team_run]
    monkeypatch.delenv("ACCIO_SERVER")

    # the old credentials file keeps working for URLs no cluster names
    laptop.write_text(f'[clusters.team]\nurl = "{team.url}"\n')  # team's token forgotten
    assert (
        _run(capsys, "login", team.url.replace("127.0.0.1", "localhost"), "--token", team.token)[0]
        == 0
    )
    credentials = json.loads((laptop.parent / "credentials.json").read_text())
    assert list(credentials.values()) == [team.token]
    monkeypatch.setenv("ACCIO_SERVER", team.url.replace("127.0.0.1", "localhost"))
    assert listed() == [team_run]
    # ... and a URL a cluster has keeps its token in that cluster's entry
    assert _run(capsys, "login", team.url + "/", "--token", team.token)[0] == 0
    assert team.token in laptop.read_text()
    assert len(json.loads((laptop.parent / "credentials.json").read_text())) == 1


def test_ui_opens_a_named_clusters_page_even_with_the_local_ui_off(
    laptop: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCIO_HTTP", "off")  # this laptop serves no UI of its own
    _run(capsys, "cluster", "add", "team", UNREACHABLE)
    code, out, _ = _run(capsys, "--cluster", "team", "ui", "--no-browser")
    assert (code, out.strip()) == (0, UNREACHABLE)
    code, _, err = _run(capsys, "ui", "--no-browser")  # the local home: its UI is off
    assert code == EXIT_USAGE and "ACCIO_HTTP=off" in err
