"""The scheduler publishes its executor's agents in the home; any process reads them back, and
only while that scheduler runs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from accio.engine import daemon
from accio.engine.agents import AgentBoard, agents_path, read_agents
from accio.executors.agents import Agent
from accio.executors.base import Executor, NodeTask, TaskResult


class Fake(Executor):
    """An executor whose agents the test sets (or makes fail)."""

    name = "fake"

    def __init__(self) -> None:
        self.listed: list[Agent] = [Agent("n1", "h1", "fake", 4, 2**30)]
        self.calls = 0
        self.failure: Exception | None = None

    def agents(self) -> list[Agent]:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return list(self.listed)

    def start(self) -> None: ...
    def submit(self, tasks: Sequence[NodeTask]) -> None: ...
    def poll(self, timeout: float) -> list[TaskResult]:
        return []

    def cancel(self, task_ids: Sequence[int]) -> None: ...
    def stop(self) -> None: ...

    @property
    def slots(self) -> int:
        return 4


def agents_of(home: Path) -> tuple[Agent, ...]:
    """The agents read back, failing when the reader says no scheduler runs."""
    published = read_agents(home)
    assert published is not None, "no scheduler seen"
    return published.agents


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """A home whose scheduler is this process (its lock held, its pid written)."""
    with daemon.home_lock(tmp_path) as handle:
        assert handle is not None
        daemon.pid_path(tmp_path).write_text(str(os.getpid()))
        yield tmp_path


def test_published_agents_are_read_back_while_the_scheduler_runs(running: Path) -> None:
    executor = Fake()
    executor.listed.append(
        Agent("n2", "h2", "fake", 2, None, 1, ("r1/Node",), "77", "running", "tcp://h2:1")
    )
    board = AgentBoard(running, executor, interval=0.0)
    assert agents_of(running) == ()
    board.tick()
    published = read_agents(running)
    assert published is not None
    assert (published.pid, published.executor) == (os.getpid(), "fake")
    assert published.agents == tuple(executor.listed)  # every field survives the file
    assert published.updated is not None and abs(published.updated - time.time()) < 60
    board.close()
    assert not agents_path(running).exists()
    assert agents_of(running) == ()


def test_the_file_is_rewritten_only_when_the_list_changes_and_at_most_every_interval(
    running: Path,
) -> None:
    executor = Fake()
    board = AgentBoard(running, executor, interval=0.0)
    board.tick()
    first = agents_path(running).stat().st_ino
    board.tick()
    assert agents_path(running).stat().st_ino == first  # same list: not replaced
    executor.listed = [Agent("n1", "h1", "fake", 4, 2**30, running=1, state="running")]
    board.tick()
    assert agents_path(running).stat().st_ino != first  # replaced (rename), never rewritten
    assert agents_of(running)[0].running == 1

    slow = AgentBoard(running, executor, interval=3600)
    slow.tick()
    slow.tick()
    assert executor.calls == 4  # 3 above, then 1: the second look was not due


def test_a_failing_executor_keeps_the_last_list_and_never_raises(
    running: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executor = Fake()
    board = AgentBoard(running, executor, interval=0.0)
    board.tick()
    executor.failure = OSError("scheduler unreachable")
    board.tick()
    board.tick()
    assert [a.name for a in agents_of(running)] == ["n1"]
    warnings = [r for r in caplog.records if "cannot list the executor's agents" in r.message]
    assert len(warnings) == 1  # the same failure is logged once


def test_no_scheduler_means_no_agents_even_with_a_file_left_behind(tmp_path: Path) -> None:
    # a killed scheduler left its file and pid: its lock is free, so nothing runs
    body = {"pid": 999_999, "executor": "local", "updated": 1.0, "agents": []}
    agents_path(tmp_path).write_text(json.dumps(body))
    daemon.pid_path(tmp_path).write_text("999999")
    daemon.lock_path(tmp_path).touch()
    assert read_agents(tmp_path) is None
    with daemon.home_lock(tmp_path):  # another scheduler runs now and has published nothing
        daemon.pid_path(tmp_path).write_text(str(os.getpid()))
        published = read_agents(tmp_path)
        assert published is not None and published.agents == () and published.executor is None


def test_a_scheduler_without_a_home_publishes_nothing(tmp_path: Path) -> None:
    board = AgentBoard(None, Fake(), interval=0.0)
    board.tick()
    board.close()
    assert list(tmp_path.iterdir()) == []
