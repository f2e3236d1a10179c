"""Fixtures of the web UI tests: an Accio home holding a finished demo-like sweep."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from accio import testing
from accio.client.client import Client, Submission
from accio.config import Settings

WORKFLOW: dict[str, Any] = {
    "id": "privacy_demo",
    "name": "Privacy demo",
    "params": [
        {"name": "epsilon", "kind": "double"},
        {"name": "offset", "kind": "double", "default_value": 0.0},
    ],
    "graph": [
        {"op": "Number", "name": "Eps", "inputs": {"value": {"param": "epsilon"}}},
        {"op": "Noise", "name": "Noisy", "inputs": {"value": {"reference": "Eps/value"}}},
        {
            "op": "Add",
            "name": "Utility",
            "inputs": {"a": {"reference": "Noisy/value"}, "b": {"param": "offset"}},
        },
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": 20}},
        {"op": "Mean", "name": "Mean", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "privacy_demo",
    "name": "privacy utility sweep",
    "notes": "epsilon against utility",
    "tags": ["demo", "geoind"],
    "seed": 20170615,
    "repeat": 3,
    "params": {"epsilon": {"values": [0.001, 0.01, 0.1, 1, 10]}, "offset": {"values": [0, 1]}},
}
SINGLE: dict[str, Any] = {
    "workflow": "privacy_demo",
    "name": "lonely baseline",
    "tags": ["baseline"],
    "seed": 7,
    "params": {"epsilon": 0.5},
}


def make_app(client: Client) -> FastAPI:
    """The real app when the API exists, else a bare one with the UI installed."""
    try:
        from accio.server.app import create_app
    except ImportError:
        from accio.server.ui import install

        app = FastAPI()
        install(app, client)
        return app
    return create_app(settings=client.settings, client=client)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui") / "home"


@pytest.fixture(scope="session")
def demo(demo_home: Path) -> Iterator[tuple[Client, Submission, Submission]]:
    """A finished 30-child sweep and a finished single run (shared by the UI tests).

    The process environment is left alone (the fixture outlives every test's monkeypatch):
    the home comes in the settings, the test operators in the registry.
    """
    env = {**os.environ, "ACCIO_HOME": str(demo_home), "ACCIO_CPUS": "2"}
    with Client(
        settings=Settings.from_env(env), registry=testing.registry(), autostart=False
    ) as c:
        c.push(WORKFLOW)
        sweep = c.submit(SWEEP)
        single = c.submit(SINGLE)
        c.execute("inline", timeout=120)
        yield c, sweep, single
