"""The UI in a real headless Chromium (Debian's ``chromium``), driven by Python Playwright.

Skipped when ``/usr/bin/chromium`` (or Playwright) is missing. The app runs under uvicorn in a
background thread on a free loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from accio.client.client import Client, Submission
from accio.config import Settings
from accio.engine import daemon

from .conftest import make_app

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("ACCIO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

Demo = tuple[Client, Submission, Submission]


class Server:
    """uvicorn serving an app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def base(demo: Demo) -> Iterator[str]:
    with Server(make_app(demo[0])) as url:
        yield url


def test_list_and_search(page: Any, base: str, demo: Demo) -> None:
    _, sweep, _ = demo
    page.goto(base + "/")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2
    page.fill("input[name=q]", "lonely")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 1")
    assert "lonely baseline" in rows.first.inner_text()
    assert "q=lonely" in page.url  # the search is in the address, to share or reload
    page.fill("input[name=q]", "owner:nobody-here")
    page.wait_for_selector("#runs .empty")
    page.fill("input[name=q]", "")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 2")
    page.click(f"a[href='/runs/{sweep.run_id}']")
    page.wait_for_url(f"**/runs/{sweep.run_id}")
    assert page.inner_text("#run-title") == "privacy utility sweep"


def test_edit_metadata_persists(page: Any, base: str, demo: Demo) -> None:
    client, _, single = demo
    before = client.run(single.run_id)
    try:
        page.goto(f"{base}/runs/{single.run_id}")
        page.click("button.edit")
        dialog = page.locator("#edit-dialog")
        dialog.wait_for(state="visible")
        dialog.locator("input[name=name]").fill("edited in the browser")
        dialog.locator("input[name=tags]").fill("alpha, beta")
        dialog.locator("textarea[name=notes]").fill("a note\nover two lines")
        dialog.locator("button[type=submit]").click()
        page.wait_for_function(
            "document.getElementById('run-title').textContent === 'edited in the browser'"
        )
        assert not page.locator("#edit-dialog").is_visible()
        page.reload()
        assert page.inner_text("#run-title") == "edited in the browser"
        assert page.locator("#run-tags a").all_inner_texts() == ["alpha", "beta"]
        assert page.inner_text("#run-notes") == "a note\nover two lines"
        assert client.run(single.run_id).tags == ("alpha", "beta")
    finally:
        client.edit(single.run_id, name=before.name, notes=before.notes, tags=before.tags)


def test_plots_render(page: Any, base: str, demo: Demo) -> None:
    _, sweep, _ = demo
    page.goto(f"{base}/runs/{sweep.run_id}")
    page.wait_for_selector("#tradeoff .vega svg.marks")
    page.wait_for_function("document.querySelectorAll('.charts .vega svg.marks').length === 10")
    first = page.locator("#tradeoff .vega").get_attribute("data-spec")
    page.select_option("#tradeoff select[name=y]", "Mean/mean")
    page.wait_for_function(
        "JSON.parse(document.querySelector('#tradeoff .vega')?.dataset.spec || '{}')"
        ".usermeta?.y === 'Mean/mean'"
    )
    page.wait_for_selector("#tradeoff .vega svg.marks")
    assert page.locator("#tradeoff .vega").get_attribute("data-spec") != first
    assert page.locator("#tradeoff .vega-actions a", has_text="Save as PNG").count() == 1
    assert page.locator("#tradeoff .vega-actions a", has_text="Save as SVG").count() == 1
    page.click(f"a[href='/runs/{sweep.child_ids[0]}']")
    page.wait_for_url(f"**/runs/{sweep.child_ids[0]}")
    page.click("#live button:has-text('logs') >> nth=-1")  # the Mean node logs a line
    page.wait_for_selector("#logs pre.log")
    assert "averaging 20 values" in page.inner_text("#logs")


def test_log_scaled_sweep_plot(page: Any, base: str, demo: Demo) -> None:
    _, sweep, _ = demo
    page.goto(f"{base}/runs/{sweep.run_id}")
    name = "[data-name='Utility-sum-vs-epsilon']"
    page.wait_for_selector(f"{name} svg.marks")
    spec = json.loads(page.locator(name).get_attribute("data-spec"))
    assert spec["encoding"]["x"]["scale"]["type"] == "log"  # 0.001 to 10, one per decade
    ticks = page.locator(f"{name} svg .mark-text.role-axis-label text").all_text_contents()
    assert {"0.001", "0.01", "0.1", "1", "10"} <= set(ticks), ticks
    band = page.locator(f"{name} svg .mark-area path")
    assert band.count() >= 1  # the 95 % band is drawn
    labels = page.locator(
        "#tradeoff svg .mark-text:not(.role-axis-label) text"
    ).all_text_contents()
    assert {"0.001", "10"} <= set(labels), labels  # trade-off points labelled with epsilon
    # the toggle: no log axes, the same chart redrawn on a linear x scale
    page.select_option("#log-select", "none")
    page.wait_for_function(
        'JSON.parse(document.querySelector("' + name + "\")?.dataset.spec || '{}')"
        ".encoding?.x?.scale?.type !== 'log'"
    )
    page.wait_for_selector(f"{name} svg.marks")
    assert page.locator("#log-select").input_value() == "none"


def test_kill_rerun_and_delete_buttons(page: Any, base: str, demo: Demo) -> None:
    client, _, _ = demo
    pending = client.submit(
        {"workflow": "privacy_demo", "name": "to kill", "seed": 11, "params": {"epsilon": 2.0}}
    )
    created = [pending.run_id]
    try:
        page.goto(f"{base}/runs/{pending.run_id}")
        page.click("#kill-button")
        page.wait_for_selector("#meta .badge.state-killed")
        assert client.run(pending.run_id).state == "killed"
        assert page.locator("#kill-button").count() == 0
        page.click("#rerun-button")
        dialog = page.locator("#rerun-dialog")
        dialog.wait_for(state="visible")
        dialog.locator("input[value=new]").check()
        dialog.locator("#rerun-submit").click()
        page.wait_for_function(f"!location.pathname.endsWith('{pending.run_id}')")
        new_id = page.url.rsplit("/", 1)[1]
        created.append(new_id)
        assert page.inner_text("#run-title") == "to kill (re-run)"
        rerun = client.run(new_id)
        assert rerun.seed != 11 and rerun.params == client.run(pending.run_id).params
        # delete: the dialog's confirmation must match before the form posts
        page.click("#delete-button")
        confirm = page.locator("#delete-dialog input[name=confirm]")
        confirm.fill("wrong")
        page.click("#delete-submit")
        assert page.locator("#delete-dialog").is_visible()  # the browser refused the pattern
        confirm.fill(new_id[:8])
        page.click("#delete-submit")
        page.wait_for_url(base + "/")
        assert client.runs(text="re-run") == []
    finally:
        client.delete([r for r in created if client.run_ids_with_prefix(r)])


def test_compare_page(page: Any, base: str, demo: Demo) -> None:
    _, sweep, single = demo
    page.goto(base + "/")
    page.check(f"#runs input[value='{sweep.run_id}']")
    page.check(f"#runs input[value='{single.run_id}']")
    page.click("#compare-button")
    page.wait_for_url("**/compare?*")
    assert page.locator("table.compare thead th").count() == 3
    page.wait_for_selector("#compare-plots .vega svg.marks")
    legend = page.locator("#compare-plots svg .role-legend-label text").all_text_contents()
    assert any(t.startswith("privacy utility sweep") for t in legend), legend
    assert "0.001, 0.01, 0.1, 1, 10" in page.inner_text("table.compare")
    # from a run's page: pick the other run among those of its workflow
    page.goto(f"{base}/runs/{single.run_id}")
    page.click("#compare-link")
    page.check(f"#compare-picker input[value='{sweep.run_id}']")
    page.click("#compare-picked")
    page.wait_for_selector("#compare-plots .vega svg.marks")
    assert page.locator("table.compare thead th").count() == 3


SLEEPY: dict[str, Any] = {
    "id": "sleepy",
    "params": [{"name": "value", "kind": "double"}],
    "graph": [
        {
            "op": "Sleep",
            "name": "Nap",
            "inputs": {"value": {"param": "value"}, "duration": "300.milliseconds"},
        },
        {"op": "Add", "name": "Plus", "inputs": {"a": {"reference": "Nap/value"}, "b": 1}},
    ],
}


def test_follow_progress_of_running_sweep(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.setenv("ACCIO_HOME", str(tmp_path / "live-home"))
    monkeypatch.setenv("ACCIO_CPUS", "2")
    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    # The scheduler process as ``Client(autostart=True)`` starts it, but kept as a child of this
    # test so that it is waited for (daemon.start_background drops its Popen object).
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "accio.service", "--home", str(settings.home)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 20
        while not daemon.is_running(settings.home):
            assert time.time() < deadline and scheduler.poll() is None, "no scheduler"
            time.sleep(0.05)
        with Client(settings=settings, autostart=True) as client:
            client.push(SLEEPY)
            sub = client.submit(
                {
                    "workflow": "sleepy",
                    "name": "sleepy sweep",
                    "params": {"value": {"from": 1, "to": 12, "step": 1}},
                }
            )
            with Server(make_app(client)) as url:
                page.goto(f"{url}/runs/{sub.run_id}")
                seen = {page.inner_text("#progress-value")}
                polling = page.locator("#live").get_attribute("hx-trigger")
                deadline = time.time() + 45
                while time.time() < deadline:
                    # the page reloads itself once the sweep has finished
                    if page.locator("#live[data-state=success]").count():
                        break
                    seen.add(page.inner_text("#progress-value"))
                    time.sleep(0.2)
                else:
                    raise AssertionError(f"the sweep did not finish on the page: {seen}")
                page.wait_for_selector("#live[data-state=success]:not([hx-trigger])")
                assert polling == "every 1s"
                assert page.inner_text("#progress-value") == "100.0 %"
                assert len(seen - {"100.0 %"}) >= 2, seen  # intermediate values were shown
                assert "success 12" in page.inner_text("#live")
    finally:
        daemon.stop(settings.home)
        if scheduler.poll() is None:
            scheduler.kill()
        scheduler.wait(timeout=10)
