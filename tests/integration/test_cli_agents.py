"""``accio get agents`` over a real background scheduler: started by a plain ``accio submit``,
it lists this machine with its CPUs, memory and the node it runs; once it stops, the command
says that no scheduler runs (and still succeeds)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.clirun import AccioCli, Result

pytestmark = pytest.mark.integration

SLEEPY = {
    "id": "sleepy",
    "params": [{"name": "x", "kind": "double", "default_value": 1.0}],
    "graph": [{"op": "Sleep", "inputs": {"value": {"param": "x"}, "duration": "30.seconds"}}],
}


class Cli(AccioCli):
    def __init__(self, root: Path) -> None:
        super().__init__(root, env={"ACCIO_HTTP": "off"})
        (root / "sleepy.json").write_text(json.dumps(SLEEPY))

    def __call__(self, *args: str) -> Result:
        return self.run(*args)

    def agents(self) -> dict[str, Any]:
        listing: dict[str, Any] = self("get", "agents", "--json").json()
        return listing


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    tool = Cli(tmp_path)
    yield tool
    tool.stop()


def test_get_agents_shows_this_machine_running_the_submitted_node(cli: Cli) -> None:
    assert cli.agents() == {"scheduler": False, "executor": None, "updated": None, "agents": []}
    assert "No scheduler runs" in cli("get", "agents").out

    cli("push", "sleepy.json")
    run_id = cli("submit", "--quiet", "sleepy").out.split()[0]
    deadline = time.time() + 45
    listing = cli.agents()
    while time.time() < deadline and not any(a["running"] for a in listing["agents"]):
        time.sleep(0.3)
        listing = cli.agents()
    assert listing["scheduler"] is True and listing["executor"] == "local"
    (agent,) = listing["agents"]
    assert (agent["name"], agent["kind"], agent["cpus"]) == (socket.gethostname(), "local", 2)
    assert agent["memory_bytes"] > 2**20 and agent["state"] == "running"
    assert (agent["running"], agent["tasks"]) == (1, [f"{run_id}/Sleep"])

    table = cli("get", "agents").out
    row = next(line for line in table.splitlines() if line.startswith(socket.gethostname()))
    assert row.split()[1:5] == ["local", "running", "2", agent_memory(agent)[0]]
    assert "1/2" in row and f"{run_id}/Sleep" in row
    assert table.split()[:5] == ["NAME", "TYPE", "STATE", "CPU", "RAM"]  # the original's names
    assert "1 more..." in cli("get", "agents", "-n", "0").out

    cli("kill", run_id)
    cli("server", "stop")
    assert cli.agents()["scheduler"] is False
    assert not (cli.home / "agents.json").exists()  # a clean stop removes it


def agent_memory(agent: dict[str, Any]) -> list[str]:
    """The memory column as the table prints it, split like a row."""
    from accio.cli.render import format_bytes

    return format_bytes(agent["memory_bytes"]).split()
