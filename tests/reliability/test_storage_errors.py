"""The scheduler never dies from a storage error: it pauses, says why, retries, and loses nothing.

Storage is wrapped so that one of its methods raises for its first N calls (a locked database:
``OperationalError``; a full disk: ``OSError(ENOSPC)``) while a sweep runs through a scheduler
with a control channel (so it reports its condition in ``scheduler-status.json``). Every run
must end, every node row and cache entry must be there, and the condition must have been
reported, then cleared. Last, a real full disk: the whole home on an 8 MiB tmpfs filled to the
last byte (root only; under ``CI=true`` a root whose mount fails is an error, not a skip): the
node writing an artifact fails cleanly (no temporary file left), the database cannot record it
either, so the writer waits and the status says the disk is full; once space is freed the
records go through and a new submission runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from accio.client.client import Client
from accio.config import Settings
from accio.engine.health import read_status
from accio.engine.scheduler import Scheduler
from accio.executors.inline import InlineExecutor
from accio.ops.registry import OperatorRegistry
from accio.testing import Add, Mean, Number, RandomTable

SWEEP_WF = {
    "id": "sums",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "In", "inputs": {"value": {"param": "x"}}},
        {"op": "Add", "name": "Plus", "inputs": {"a": {"reference": "In/value"}, "b": 1.0}},
    ],
}
SWEEP = {"workflow": "sums", "seed": 3, "params": {"x": {"values": [1.0, 2.0, 3.0, 4.0, 5.0]}}}
TABLE_WF = {
    "id": "tables",
    "params": [{"name": "rows", "kind": "integer"}],
    "graph": [
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": {"param": "rows"}}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}


def locked() -> Exception:
    return sqlalchemy.exc.OperationalError("UPDATE nodes", {}, Exception("database is locked"))


def disk_full() -> Exception:
    return OSError(errno.ENOSPC, "No space left on device")


class Flaky:
    """Wraps a storage method: raises ``make()`` for the first ``failures`` calls."""

    def __init__(self, method: Callable[..., Any], failures: int, make: Callable[[], Exception]):
        self.method, self.left, self.make = method, failures, make
        self.raised = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            self.raised += 1
            raise self.make()
        return self.method(*args, **kwargs)


def make_client(home: Path) -> Client:
    registry = OperatorRegistry([Number, Add, RandomTable, Mean])
    settings = Settings.from_env({"ACCIO_HOME": str(home)})
    return Client(settings=settings, registry=registry, autostart=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with make_client(tmp_path / "home") as c:
        yield c


def scheduler_of(client: Client) -> Scheduler:
    runtime = client.runtime  # type: ignore[attr-defined]
    executor = InlineExecutor(str(runtime.settings.artifacts_dir), runtime.registry)
    return runtime.scheduler(control=True, executor=executor)  # type: ignore[no-any-return]


def watch_status(home: Path, seen: list[dict[str, Any]], stop: threading.Event) -> None:
    while not stop.is_set():
        status = read_status(home)
        if status.get("paused"):
            seen.append(status)
        time.sleep(0.005)


def run_with_faults(client: Client, method: str, flaky: Flaky) -> list[dict[str, Any]]:
    """Submit the sweep, run it to the end with ``method`` failing; the statuses seen."""
    home = client.settings.home  # type: ignore[attr-defined]
    client.push(SWEEP_WF)
    scheduler = scheduler_of(client)
    storage = client.runtime.storage  # type: ignore[attr-defined]
    flaky.method = getattr(storage, method)
    setattr(storage, method, flaky)
    seen: list[dict[str, Any]] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_status, args=(home, seen, stop), daemon=True)
    watcher.start()
    try:
        client.submit(dict(SWEEP), start=False)
        scheduler.run_until_idle(timeout=60)
    finally:
        stop.set()
        watcher.join()
        scheduler.close()
        delattr(storage, method)
    assert read_status(home).get("paused") is False  # cleared once writes went through
    return seen


def check_nothing_lost(client: Client) -> None:
    (parent,) = client.runs()
    assert parent.state == "success"
    children = client.children(parent.id)
    assert len(children) == 5 and {c.state for c in children} == {"success"}
    keys = []
    for child in children:
        nodes = {n.name: n for n in client.nodes(child.id)}
        assert {n.state for n in nodes.values()} == {"success", "cached"} or {
            n.state for n in nodes.values()
        } == {"success"}
        assert nodes["Plus"].outputs is not None
        keys += [n.cache_key for n in nodes.values()]
    found = client.storage.lookup_cache(keys)  # type: ignore[attr-defined]
    assert set(found) == set(keys)  # every result reusable


@pytest.mark.parametrize(
    ("method", "make"),
    [("update_nodes", locked), ("record_cache", disk_full), ("set_run_states", locked)],
)
def test_failing_writes_pause_report_and_lose_nothing(
    client: Client, method: str, make: Callable[[], Exception]
) -> None:
    flaky = Flaky(lambda: None, 4, make)
    seen = run_with_faults(client, method, flaky)
    assert flaky.raised == 4
    check_nothing_lost(client)
    assert seen, "the condition was never reported"
    text = seen[0]["condition"]
    assert ("disk full" in text) if make is disk_full else ("database is locked" in text)


def test_a_failing_cache_lookup_pauses_dispatch_then_resumes(client: Client) -> None:
    flaky = Flaky(lambda: None, 3, locked)
    seen = run_with_faults(client, "lookup_cache", flaky)
    assert flaky.raised == 3
    check_nothing_lost(client)
    assert seen and "database is locked" in seen[0]["condition"]


def test_a_node_whose_key_fails_fails_alone(client: Client) -> None:
    client.push(SWEEP_WF)
    scheduler = scheduler_of(client)
    components = scheduler.machine.components

    def broken(plan: Any, inputs: Any, seed: int | None) -> Any:
        if plan.name == "Plus" and inputs["a"]["value"] == 3.0:
            raise ValueError("unreadable input file")
        return components(plan, inputs, seed)

    scheduler.machine.components = broken
    try:
        client.submit(dict(SWEEP), start=False)
        scheduler.run_until_idle(timeout=60)
    finally:
        scheduler.close()
    (parent,) = client.runs()
    states = sorted(c.state for c in client.children(parent.id))
    assert states == ["failed", "success", "success", "success", "success"]
    failed = next(c for c in client.children(parent.id) if c.state == "failed")
    plus = next(n for n in client.nodes(failed.id) if n.name == "Plus")
    assert plus.state == "failed" and "unreadable input file" in (plus.error or "")
    assert '"reason": "key_error"' in (plus.error or "")


# ----------------------------------------------------------------------------- a real full disk
@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs at ``where``; skips (or fails under CI=true) when it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (root under CI=true must be able to)")
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path, keep: int) -> int:
    """Write ``path`` until the file system has about ``keep`` bytes left; returns its size."""
    chunk = b"\0" * 65536
    written = 0
    with open(path, "wb") as handle:
        try:
            while os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize > keep:
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return written


def test_disk_full_fails_or_waits_cleanly_and_resumes_when_space_is_freed(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as mount, make_client(mount / "home") as client:
        home = mount / "home"
        client.push(TABLE_WF)
        scheduler = scheduler_of(client)  # reserves its status block while there is room
        sub = client.submit(
            {"workflow": "tables", "seed": 5, "params": {"rows": 300_000}}, start=False
        )
        filler = mount / "filler"
        fill(filler, keep=0)
        errors: list[BaseException] = []

        def drive() -> None:
            try:
                scheduler.run_until_idle(timeout=120)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        deadline = time.time() + 60
        paused: dict[str, Any] = {}
        while time.time() < deadline and thread.is_alive():
            paused = read_status(home)
            if paused.get("paused"):
                break  # waiting for space: the writer retries
            time.sleep(0.02)
        # Not a byte left: the database cannot write either, and says so through the status
        # block reserved beforehand.
        assert "full" in str(paused.get("condition")), paused
        filler.unlink()  # space comes back
        thread.join(120)
        scheduler.close()
        assert not thread.is_alive() and not errors, errors

        table = next(n for n in client.nodes(sub.run_id) if n.name == "Table")
        artifacts = home / "artifacts"
        leftovers = [p.name for p in artifacts.rglob("*") if p.is_file() and ".tmp" in p.name]
        assert not leftovers  # no half-written artifact
        if table.state == "failed":  # the artifact could not be written: failed cleanly
            assert "No space left" in (table.error or "") or "28" in (table.error or "")
            assert table.outputs is None
            assert client.run(sub.run_id).state == "failed"
        else:  # it waited until space came back
            assert table.state == "success"

        # Work resumes: the same run submitted again completes, its artifact whole.
        again = client.submit(
            {"workflow": "tables", "seed": 5, "params": {"rows": 300_000}}, start=False
        )
        scheduler = scheduler_of(client)
        try:
            scheduler.run_until_idle(timeout=120)
        finally:
            scheduler.close()
        assert client.run(again.run_id).state == "success"
        nodes = {n.name: n for n in client.nodes(again.run_id)}
        store = client.runtime.artifacts  # type: ignore[attr-defined]
        digest = __import__("json").loads(nodes["Table"].outputs)["data"]["value"]
        assert store.verify(digest)


def test_the_condition_reaches_scheduler_status_and_the_cli(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from accio.cli.main import main
    from accio.engine import daemon
    from accio.engine.health import StatusBoard, status_path

    home = client.settings.home  # type: ignore[attr-defined]
    monkeypatch.setenv("ACCIO_HOME", str(home))
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    with daemon.home_lock(home) as held:  # as a running scheduler holds it
        assert held is not None
        board = StatusBoard(status_path(home))
        board.report("disk full: [Errno 28] No space left on device", time.time(), backlog=3)
        assert client.scheduler_status().condition == (
            "disk full: [Errno 28] No space left on device"
        )
        assert main(["server", "status", "--json"]) == 0
        assert "No space left" in __import__("json").loads(capsys.readouterr().out)["condition"]
        assert main(["server", "status"]) == 0
        assert "paused, retrying: disk full" in capsys.readouterr().out
        board.close()
        assert client.scheduler_status().condition is None
