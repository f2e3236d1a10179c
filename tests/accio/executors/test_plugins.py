"""Plugin reloading in a long-lived process, and what a broken plugin leaves behind."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from accio.errors import NotFoundError, RegistryError
from accio.executors.base import NodeTask, TaskLogs
from accio.executors.worker import LivePump, execute_task
from accio.ops.registry import OperatorRegistry

Writer = Callable[..., str]  # the write_plugin fixture (conftest)


def test_refresh_reimports_an_edited_plugin(tmp_path: Path, write_plugin: Writer) -> None:
    module = write_plugin(1.0)
    registry = OperatorRegistry.from_entry_points(plugins=f"{module}:operators")
    old = registry.require("Printer")
    old_hash = old.code_hash  # computed when a node is keyed, from the code then on disk
    assert registry.refresh() is False  # nothing changed: nothing reloaded

    path = tmp_path / "plugins" / f"{module}.py"
    stat = path.stat()
    write_plugin(2.0, module)  # same size, maybe the same second: the .pyc must not serve it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # 1 ms later
    assert registry.refresh() is True
    new = registry.require("Printer")
    assert new.impl is not old.impl and new.code_hash != old_hash
    task = NodeTask(1, "r", "n", "Printer", {}, None, "k")
    result = execute_task(task, str(tmp_path / "artifacts"), registry)
    assert json.loads(result.outputs or "{}")["value"]["value"] == 2.0
    assert registry.refresh() is False


def test_a_broken_plugin_is_kept_as_a_reason(plugin_dir: Path, write_plugin: Writer) -> None:
    good = write_plugin()
    targets = f"{good}:operators,plug_late_{os.getpid()}:operators"
    with pytest.raises(RegistryError, match="plug_late"):
        OperatorRegistry.from_entry_points(plugins=targets)  # strict by default
    registry = OperatorRegistry.from_entry_points(plugins=targets, strict=False)
    assert "Printer" in registry
    with pytest.raises(NotFoundError, match=r"plug_late.*failed to load"):
        registry.require("Late")

    (plugin_dir / f"plug_late_{os.getpid()}.py").write_text(
        "from accio.ops.api import Port, operator\n\n"
        "@operator()\nclass Late:\n    class Outputs:\n        v = Port('double')\n\n"
        "    def run(self, inputs, ctx):\n        return {'v': 1.0}\n\n"
        "def operators():\n    return [Late]\n"
    )
    assert registry.refresh() is True  # the failed plugin is retried
    assert "Late" in registry and not registry.load_errors


def test_the_pump_sends_only_lines_not_yet_sent(tmp_path: Path) -> None:
    sent: list[TaskLogs] = []
    pump = LivePump(sent.append, interval=0.01)
    sink: list[tuple[float, str, str]] = []
    pump.begin(7, sink)
    sink.append((1.0, "stdout", "a"))
    deadline = time.time() + 5
    while not sent and time.time() < deadline:
        time.sleep(0.01)
    sink.append((2.0, "stdout", "b"))
    already = pump.end()
    assert sent[0] == TaskLogs(7, ((1.0, "stdout", "a"),))
    assert already == sum(len(m.lines) for m in sent)
    assert [m.task_id for m in sent] == [7] * len(sent)
