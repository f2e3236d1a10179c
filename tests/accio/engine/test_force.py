"""``submit --force`` / ``--force-node``: forced nodes skip every cache and replace its entries.

Through the local client (in-process inline scheduler), the CLI, and a RemoteClient against a
served home; plus a resumed forced run staying forced (the names are stored with the run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accio.client.client import Client
from accio.config import Settings
from accio.errors import UsageError
from accio.testing import registry as make_registry

WORKFLOW: dict[str, Any] = {
    "id": "forced",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Add", "name": "Plus", "inputs": {"a": {"reference": "In/value"}, "b": 1.0}},
    ],
}
RUN = {"workflow": "forced", "seed": 1, "params": {"x": 2.0}}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "home")})
    with Client(settings=settings, registry=make_registry(), autostart=False) as c:
        c.push(WORKFLOW)
        yield c


def states(client: Client, run_id: str) -> dict[str, str]:
    return {n.name: n.state for n in client.nodes(run_id)}


def submit_and_run(client: Client, **kwargs: Any) -> str:
    sub = client.submit(dict(RUN), start=False, **kwargs)
    client.execute("inline")
    return sub.run_id


def test_force_node_reexecutes_it_and_replaces_its_cache_entry(client: Client) -> None:
    first = submit_and_run(client)
    assert states(client, first) == {"In": "success", "Plus": "success"}
    assert states(client, submit_and_run(client)) == {"In": "cached", "Plus": "cached"}

    forced = submit_and_run(client, force_nodes=["Plus"])

    assert states(client, forced) == {"In": "cached", "Plus": "success"}
    assert json.loads(client.run(forced).force or "null") == ["Plus"]
    plus = next(n for n in client.nodes(forced) if n.name == "Plus")
    entry = client.storage.lookup_cache([plus.cache_key])[plus.cache_key]  # type: ignore[attr-defined]
    assert entry.run_id == forced  # the new result replaced the entry
    again = submit_and_run(client)
    assert states(client, again) == {"In": "cached", "Plus": "cached"}
    assert next(n for n in client.nodes(again) if n.name == "Plus").cache_source == forced


def test_force_reexecutes_every_node(client: Client) -> None:
    submit_and_run(client)
    forced = submit_and_run(client, force=True)
    assert states(client, forced) == {"In": "success", "Plus": "success"}
    assert json.loads(client.run(forced).force or "null") == ["*"]


def test_an_unknown_forced_node_is_a_usage_error(client: Client) -> None:
    with pytest.raises(UsageError, match=r"no node 'Plu'.*In, Plus"):
        client.submit(dict(RUN), start=False, force_nodes=["Plu"])
    assert client.runs() == []  # nothing stored


def test_a_resumed_forced_run_stays_forced(client: Client) -> None:
    submit_and_run(client)
    sub = client.submit(dict(RUN), start=False, force_nodes=["In"])
    storage = client.storage  # type: ignore[attr-defined]
    (record,) = storage.get_runs([sub.run_id])
    # As a crash leaves it: the run started, its nodes pending.
    storage.set_run_states([(record.id, "running", 1.0, None, 0.0)])
    client.execute("inline")
    assert states(client, sub.run_id) == {"In": "success", "Plus": "cached"}


def test_cli_force_flags(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from accio.cli.main import main

    submit_and_run(client)
    monkeypatch.setenv("ACCIO_HOME", str(client.settings.home))  # type: ignore[attr-defined]
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    code = main(
        ["submit", "forced", "x=2.0", "-seed=1", "--force-node", "In", "--no-start", "--quiet"]
    )
    assert code == 0
    run_id = capsys.readouterr().out.split()[0]
    assert json.loads(client.run(run_id).force or "null") == ["In"]
    assert (
        main(["submit", "forced", "x=2.0", "--force-node", "Nope", "--no-start"])
        == UsageError.exit_code
    )
    assert "no node 'Nope'" in capsys.readouterr().err


def test_force_over_rest(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from accio.client.remote import RemoteClient
    from accio.server.app import create_app
    from accio.server.http import serve_in_thread

    settings = client.settings  # type: ignore[attr-defined]
    server = serve_in_thread(create_app(settings=settings, client=client), "127.0.0.1", 0)
    remote = RemoteClient(server.url, timeout=10)
    try:
        sub = remote.submit(dict(RUN), force_nodes=["Plus"])
        assert json.loads(client.run(sub.run_id).force or "null") == ["Plus"]
        sub = remote.submit(dict(RUN), force=True)
        assert json.loads(client.run(sub.run_id).force or "null") == ["*"]
        with pytest.raises(UsageError):
            remote.submit(dict(RUN), force_nodes=["Nope"])
    finally:
        remote.close()
        server.stop()
