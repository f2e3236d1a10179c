"""The scheduler's lock: a status probe at the moment a scheduler starts must not stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from accio.engine import daemon


def test_a_starting_scheduler_waits_out_a_probe(tmp_path: Path) -> None:
    """is_running() takes the lock for a moment; a scheduler starting then must still get it."""
    got: list[bool] = []

    def starting_scheduler() -> None:
        with daemon.home_lock(tmp_path, patience=daemon.START_PATIENCE_S) as handle:
            got.append(handle is not None)

    with daemon.home_lock(tmp_path) as probe:
        assert probe is not None
        thread = threading.Thread(target=starting_scheduler)
        thread.start()
        time.sleep(0.2)
        with daemon.home_lock(tmp_path) as other:  # no patience: busy is busy
            assert other is None
    thread.join(10)
    assert got == [True]


def test_second_scheduler_leaves_the_first_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "ACCIO_HOME": str(home), "ACCIO_PLUGINS": "accio.testing:operators"}
    with daemon.home_lock(home) as holder:  # a scheduler that runs for good
        assert holder is not None
        second = subprocess.Popen(
            [sys.executable, "-m", "accio.service", "--home", str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert second.wait(timeout=30) == 0
        assert daemon.is_running(home)
    assert not daemon.is_running(home)
