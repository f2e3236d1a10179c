"""open_store: which implementation a locator opens, and what a locator carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from accio.cache.artifacts import FsspecArtifactStore, LocalArtifactStore
from accio.cache.stores import is_url, locator, open_settings_store, open_store, store_locator
from accio.config import Settings
from accio.errors import UsageError


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"ACCIO_HOME": str(tmp_path / "home"), "ACCIO_USER": "t", **env})


def test_a_path_opens_the_folder_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a")
    assert isinstance(store, LocalArtifactStore) and store.root == tmp_path / "a"
    assert isinstance(open_store(str(tmp_path / "b")), LocalArtifactStore)
    assert not is_url("C:\\artifacts") and not is_url("relative/dir")


@pytest.mark.parametrize(
    ("url", "protocol", "root", "atomic"),
    [
        ("memory://accio-open-test/prefix", "memory", "/accio-open-test/prefix", False),
        ("s3://bucket/some/prefix", "s3", "bucket/some/prefix", True),
    ],
)
def test_a_url_opens_the_fsspec_store(url: str, protocol: str, root: str, atomic: bool) -> None:
    store = open_store(url)
    assert isinstance(store, FsspecArtifactStore)
    assert (store.protocol, store.root, store.atomic_put) == (protocol, root, atomic)


def test_file_urls_use_fsspec_on_the_folder(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/x")
    assert isinstance(store, FsspecArtifactStore) and store.root == f"{tmp_path}/x"
    digest = store.put_bytes(b"shared layout")
    # Same layout as the folder store: either can read what the other wrote.
    assert LocalArtifactStore(tmp_path / "x").get_bytes(digest) == b"shared layout"


def test_the_endpoint_rides_in_the_locator_credentials_do_not(tmp_path: Path) -> None:
    env = {
        "ACCIO_ARTIFACTS_URL": "s3://bucket/runs",
        "ACCIO_S3_ENDPOINT": "http://127.0.0.1:8333",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
    }
    chosen = settings(tmp_path, **env)
    assert (chosen.artifacts_url, chosen.s3_endpoint) == (
        env["ACCIO_ARTIFACTS_URL"],
        env["ACCIO_S3_ENDPOINT"],
    )
    where = store_locator(chosen)
    assert where == "s3://bucket/runs?endpoint_url=http%3A%2F%2F127.0.0.1%3A8333"
    assert "secret" not in where
    store = open_store(where)
    assert isinstance(store, FsspecArtifactStore)
    assert store.fs.client_kwargs["endpoint_url"] == "http://127.0.0.1:8333"
    assert store.root == "bucket/runs"


def test_settings_without_url_keep_the_home_folder(tmp_path: Path) -> None:
    chosen = settings(tmp_path)
    assert chosen.artifacts_url is None and chosen.s3_endpoint is None
    assert store_locator(chosen) == str(tmp_path / "home" / "artifacts")
    assert isinstance(open_settings_store(chosen), LocalArtifactStore)
    memory = settings(tmp_path, ACCIO_ARTIFACTS_URL="memory://accio-settings-test")
    assert isinstance(open_settings_store(memory), FsspecArtifactStore)
    shared = settings(
        tmp_path, ACCIO_ARTIFACTS_URL=str(tmp_path / "nfs"), ACCIO_S3_ENDPOINT="http://h:1"
    )
    assert store_locator(shared) == str(tmp_path / "nfs")  # a shared folder: no options
    assert isinstance(open_settings_store(shared), LocalArtifactStore)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("s3://bucket/x?region=eu", "unknown artifact store option"),
        ("memory://x?endpoint_url=http://h", "apply to s3:// URLs only"),
        ("s3://", "needs a bucket"),
        ("nosuchproto://bucket/x", "cannot open artifact store"),
    ],
)
def test_bad_locators_are_usage_errors(where: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_store(where)


def test_a_url_with_a_query_is_refused() -> None:
    with pytest.raises(UsageError, match="must not contain"):
        locator("s3://bucket/x?y=1", endpoint_url="http://h")
    assert locator("s3://bucket/x") == "s3://bucket/x"


def test_a_started_scheduler_uses_the_clients_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.engine.daemon import scheduler_env

    monkeypatch.setenv("ACCIO_ARTIFACTS_URL", "s3://somebody-elses/bucket")
    monkeypatch.setenv("ACCIO_S3_ENDPOINT", "http://elsewhere:1")
    env = scheduler_env(settings(tmp_path))  # explicit settings without a URL: the folder
    assert "ACCIO_ARTIFACTS_URL" not in env and "ACCIO_S3_ENDPOINT" not in env
    chosen = settings(
        tmp_path, ACCIO_ARTIFACTS_URL="s3://b/p", ACCIO_S3_ENDPOINT="http://127.0.0.1:9"
    )
    env = scheduler_env(chosen)
    assert (env["ACCIO_ARTIFACTS_URL"], env["ACCIO_S3_ENDPOINT"]) == (
        "s3://b/p",
        "http://127.0.0.1:9",
    )
