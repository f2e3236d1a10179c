"""The server and the web UI reach an Accio home only through the client contract: no storage
backend, SQLAlchemy, runtime, scheduler or daemon, and no local client except where ``create_app``
opens one when it is given none."""

from __future__ import annotations

import grimp
import pytest

#: Modules the server must not import: what sits behind the contract.
BEHIND_THE_CONTRACT = (
    "sqlalchemy",
    "accio.storage.base",
    "accio.storage.sql",
    "accio.storage.sqlbase",
    "accio.storage.sqlite",
    "accio.storage.memory",
    "accio.storage.schema",
    "accio.engine.runtime",
    "accio.engine.scheduler",
    "accio.engine.daemon",
    "accio.cache.artifacts",
    "accio.client.local",
    "accio.client.client",
)
#: The one place that may open a local client: the app factory, when it is given no client.
OPENS_A_LOCAL_CLIENT = {"accio.server.app": {"accio.client.local"}}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("accio", include_external_packages=True)


def test_server_modules_use_only_the_contract(graph: grimp.ImportGraph) -> None:
    server = sorted(m for m in graph.modules if m.startswith("accio.server"))
    assert "accio.server.routes.runs" in server and "accio.server.ui.views" in server
    offending: dict[str, set[str]] = {}
    for module in server:
        imported = graph.find_modules_directly_imported_by(module)
        allowed = OPENS_A_LOCAL_CLIENT.get(module, set())
        bad = {
            i
            for i in imported
            if i not in allowed
            and any(i == f or i.startswith(f + ".") for f in BEHIND_THE_CONTRACT)
        }
        if bad:
            offending[module] = bad
    assert offending == {}


def test_the_service_composes_and_the_daemon_does_not(graph: grimp.ImportGraph) -> None:
    imported = graph.find_modules_directly_imported_by("accio.engine.daemon")
    assert not {i for i in imported if i.startswith(("accio.client", "accio.server", "accio.cli"))}
    composed = graph.find_modules_directly_imported_by("accio.service")
    assert {"accio.engine.runtime", "accio.client.local", "accio.server.app"} <= composed
