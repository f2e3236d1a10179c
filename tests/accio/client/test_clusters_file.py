"""The clusters file (``clusters.toml``): round trip, mode 0600, clear errors, selection order."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accio.client import clusters
from accio.client.clusters import Cluster, ClusterBook, load, parse, save, select
from accio.config import Settings
from accio.errors import EXIT_USAGE, UsageError

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(
    lambda n: n != clusters.LOCAL
)
HOSTS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    st.just("127.0.0.1"),
    st.just("[::1]"),
)
URLS = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https"]),
    HOSTS,
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.one_of(st.just(""), st.from_regex(r"(/[a-z0-9_-]{1,8}){1,2}", fullmatch=True)),
)
TOKENS = st.one_of(st.none(), st.from_regex(r"[\x21-\x7e]{1,60}", fullmatch=True))


@st.composite
def books(draw: st.DrawFn) -> ClusterBook:
    names = draw(st.lists(NAMES, unique=True, max_size=5))
    items = tuple(Cluster(n, draw(URLS), draw(TOKENS)) for n in names)
    default = draw(st.one_of(st.none(), st.sampled_from(names))) if names else None
    return ClusterBook(Path("/x/clusters.toml"), items, default)


@settings(max_examples=150, deadline=None)
@given(books())
def test_any_valid_book_round_trips_through_its_toml(book: ClusterBook) -> None:
    back = parse(book.to_toml(), book.path)
    assert back == book
    assert [(c.name, c.url, c.token) for c in back] == [(c.name, c.url, c.token) for c in book]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_book_or_a_usage_error_naming_the_file(text: str) -> None:
    path = Path("/etc/team/clusters.toml")
    try:
        parse(text, path)
    except UsageError as exc:
        assert str(path) in str(exc) and exc.exit_code == EXIT_USAGE


@settings(max_examples=100, deadline=None)
@given(NAMES, URLS)
def test_valid_names_and_urls_are_accepted_as_they_are(name: str, url: str) -> None:
    assert clusters.check_name(name) == name
    assert clusters.check_url(url + "/") == url


def test_save_writes_0600_in_a_0700_folder_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "accio" / "clusters.toml"
    assert load(path) == ClusterBook(path)  # no file: no clusters
    book = ClusterBook(path).with_cluster(Cluster("team", "http://h:8765", "s3cr3t"), default=True)
    book = book.with_cluster(Cluster("lab", "https://lab.example/accio"))
    save(book)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load(path) == book
    assert load(path).get("team").token == "s3cr3t"
    path.chmod(0o644)  # a file someone widened is narrowed again on the next write
    save(load(path).without("team"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load(path)
    assert again.names() == ["lab"] and again.default is None  # the default went with it
    assert [p.name for p in path.parent.iterdir()] == ["clusters.toml"]  # no temporary left


def test_repr_never_shows_a_token() -> None:
    assert "s3cr3t" not in repr(Cluster("team", "http://h:1", "s3cr3t"))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("default = [", "invalid TOML"),
        ('colour = "red"', "colour: unknown key"),
        ('[clusters.team]\nurl = "http://h:1"\nport = 1', "clusters.team: port: unknown key"),
        ("[clusters.team]\ntoken = 'x'", "clusters.team.url: missing"),
        ('[clusters.team]\nurl = "ftp://h"', "clusters.team.url: bad server URL"),
        ('[clusters.team]\nurl = "http://h:99999"', "clusters.team.url: bad server URL"),
        ('[clusters.team]\nurl = "http://h:1?x=1"', "clusters.team.url: bad server URL"),
        ("[clusters.team]\nurl = 8765", "clusters.team.url: expected a string"),
        ('[clusters."a b"]\nurl = "http://h:1"', "clusters.a b: bad cluster name"),
        ('[clusters.local]\nurl = "http://h:1"', "reserved for the local home"),
        ('[clusters.team]\nurl = "http://h:1"\ntoken = "a b"', "clusters.team.token"),
        ('default = "lab"\n[clusters.team]\nurl = "http://h:1"', "default: no cluster 'lab'"),
        ('clusters = "team"', "clusters: expected [clusters.NAME] tables"),
    ],
)
def test_a_bad_file_is_a_usage_error_naming_the_file_and_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "clusters.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert field in str(caught.value)


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    book = ClusterBook(
        tmp_path / "c.toml", (Cluster("a", "http://a:1"), Cluster("b", "http://b:1"))
    )
    with pytest.raises(UsageError, match=r"unknown cluster 'c' \(known: a, b;"):
        book.get("c")


def test_selection_order(tmp_path: Path) -> None:
    path = tmp_path / "clusters.toml"
    save(
        ClusterBook(path)
        .with_cluster(Cluster("a", "http://a:1", "ta"), default=True)
        .with_cluster(Cluster("b", "http://b:1"))
    )
    server = "http://explicit:2"

    def chosen(flag: str | None, env: str | None, url: str | None) -> str:
        sel = select(path, flag, env, url)
        return sel.cluster.name if sel.cluster else sel.source

    assert chosen("b", "a", server) == "b"  # --cluster first
    assert chosen(None, "b", server) == "b"  # then $ACCIO_CLUSTER
    assert chosen(None, None, server) == "server"  # an explicit URL beats the default
    assert chosen(None, None, None) == "a"  # then the file's default
    assert chosen("local", "b", server) == "local"  # 'local' is the home, whatever else says
    assert chosen(None, "local", None) == "local"
    assert select(path, None, None, None).source == "default"
    assert select(path, "b", None, None).source == "flag"
    save(load(path).with_default(None))
    assert chosen(None, None, None) == "local"  # no default: the embedded home
    assert chosen(None, None, None) == "local"
    with pytest.raises(UsageError, match="unknown cluster 'zz'"):
        select(path, "zz", None, None)


def test_an_explicit_url_does_not_even_read_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "clusters.toml"
    path.write_text("not toml [")
    assert select(path, None, None, "http://h:1").source == "server"
    with pytest.raises(UsageError, match="invalid TOML"):
        select(path, None, None, None)


def test_settings_find_the_file_beside_the_credentials_or_where_told(tmp_path: Path) -> None:
    home = Settings.from_env({"HOME": str(tmp_path), "ACCIO_HOME": str(tmp_path / "h")})
    assert home.clusters_file == tmp_path / ".config" / "accio" / "clusters.toml"
    assert home.cluster is None
    xdg = Settings.from_env({"XDG_CONFIG_HOME": str(tmp_path / "x"), "ACCIO_CLUSTER": " team "})
    assert xdg.clusters_file == tmp_path / "x" / "accio" / "clusters.toml"
    assert xdg.cluster == "team"
    told = Settings.from_env({"ACCIO_CLUSTERS_FILE": str(tmp_path / "team.toml")})
    assert told.clusters_file == tmp_path / "team.toml"
