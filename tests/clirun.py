"""The real ``accio`` command for end-to-end tests, shared so every test drives it the same way.

:class:`AccioCli` runs the console script in a subprocess on an Accio home of its own, with an
environment built from this process's minus every ``ACCIO_*`` variable (so a developer's or CI's
settings never leak in), plus the home, plugins and cpus the test asks for. :class:`InProcess`
runs ``accio.cli.main.main`` in the test's own process (fast, no scheduler unless asked), its
streams read from ``capsys``, on a home set by :func:`use_home`. Tests import them as
``from tests.clirun import AccioCli`` (CI runs ``python -m pytest`` from the repository root).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from accio.cli.main import main
from accio.client.local import LocalClient
from accio.config import Settings

ACCIO = Path(sys.executable).parent / "accio"

T = TypeVar("T")


def free_port() -> int:
    """A loopback port free right now (a fixed one such as 8765 may be taken by others)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T], timeout: float, message: str = "timed out", every: float = 0.05
) -> T:
    """The first truthy value of ``predicate()``, polled every ``every`` seconds; fails the test
    with ``message`` after ``timeout`` seconds (checked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(every)


def pythonpath(*dirs: Path | str) -> str:
    """``PYTHONPATH`` with ``dirs`` first, so plugin modules there import in every process."""
    return os.pathsep.join(p for p in (*map(str, dirs), os.environ.get("PYTHONPATH")) if p)


def run_module(
    argv: list[str], env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``python -m accio.cli.main ARGV`` as a user runs it (its own process, exit code and both
    streams, never checked), with ``env`` over this process's whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "accio.cli.main", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Result:
    """What a command gave back: exit code and both streams."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def output(self) -> str:
        """Both streams, as a user sees them in a terminal."""
        return self.out + self.err


class AccioCli:
    """``accio`` run in ``root`` on the home ``root/home`` (unless given).

    ``env`` entries override or add variables; ``columns=None`` leaves ``COLUMNS`` as inherited.
    """

    def __init__(
        self,
        root: Path,
        *,
        home: Path | None = None,
        plugins: str = "accio.testing:operators",
        cpus: int = 2,
        columns: int | None = 200,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.home = home or root / "home"
        self.timeout = timeout
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ACCIO_")},
            "ACCIO_HOME": str(self.home),
            "ACCIO_PLUGINS": plugins,
            "ACCIO_CPUS": str(cpus),
            **({"COLUMNS": str(columns)} if columns is not None else {}),
            **(env or {}),
        }

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float | None = None,
        code: int | None = 0,
        **env: str,
    ) -> Result:
        """``accio ARGS``; no traceback may reach the user, and the exit code must be ``code``
        (any code when ``None``). ``env`` adds variables for this command only."""
        proc = subprocess.run(
            [str(ACCIO), *args],
            cwd=self.root,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        if code is not None:
            assert proc.returncode == code, f"accio {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return result

    def stop(self) -> None:
        """``accio server stop`` if a background scheduler was started on this home."""
        if (self.home / "scheduler.lock").exists():
            subprocess.run(
                [str(ACCIO), "server", "stop"], env=self.env, capture_output=True, timeout=60
            )


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> None:
    """This process's ``accio`` on ``home`` with the test operators, as user ``tester``: no
    server or database from the caller's environment. ``env`` sets more variables."""
    for name in ("ACCIO_SERVER", "ACCIO_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCIO_HOME", str(home))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_USER", "tester")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


class InProcess:
    """``accio`` through ``main`` in this process; subclasses (dataclasses) hold ``capsys``."""

    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        """``accio ARGS``: no traceback, and exit code ``code`` (any when ``None``)."""
        self.capsys.readouterr()
        result = main(list(args))
        captured = self.capsys.readouterr()
        output = Result(result, captured.out, captured.err)
        assert "Traceback" not in output.err
        if code is not None:
            assert result == code, f"accio {' '.join(args)}: {output}"
        return output

    def client(self) -> LocalClient:
        """The library on the same home (settings from the environment), no scheduler start."""
        return LocalClient(settings=Settings.from_env(), autostart=False)
