"""The UI pages through an in-process HTTP client, on a finished 30-child sweep."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import warnings
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest

from accio.client.client import Client, Submission
from accio.definitions.model import NodeDef, NodeRef, Workflow
from accio.server.ui import graph, model, plots

from .conftest import make_app

with warnings.catch_warnings():  # starlette asks for httpx2; the TestClient works as it is
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

Demo = tuple[Client, Submission, Submission]
HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def http(demo: Demo) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(make_app(demo[0])) as tc:
            yield tc


def specs(html: str) -> list[dict[str, Any]]:
    return [json.loads(s) for s in re.findall(r"data-spec='([^']*)'", html)]


def test_runs_list_search_and_filters(http: TestClient, demo: Demo) -> None:
    _, sweep, single = demo
    page = http.get("/").text
    assert "<html" in page and "/static/htmx.min.js" in page
    assert f"/runs/{sweep.run_id}" in page and f"/runs/{single.run_id}" in page
    assert "30 children" in page
    assert f"/runs/{sweep.child_ids[0]}" not in page  # children are not top-level rows

    found = http.get("/", params={"q": "lonely"}, headers=HX).text
    assert "<html" not in found  # htmx gets the fragment only
    assert f"/runs/{single.run_id}" in found and f"/runs/{sweep.run_id}" not in found
    assert f"/runs/{sweep.run_id}" in http.get("/", params={"q": "utility epsil"}).text
    assert f"/runs/{single.run_id}" in http.get("/", params={"q": "tag:baseline"}).text
    assert "No run matches" in http.get("/", params={"q": "owner:nobody-at-all"}).text
    both = http.get("/", params={"q": "workflow:privacy_demo", "state": "success"}).text
    assert f"/runs/{single.run_id}" in both and f"/runs/{sweep.run_id}" in both
    assert "No run matches" in http.get("/", params={"state": "failed"}).text
    # a restored history entry gets the whole page even though htmx asks
    restore = http.get("/", headers={**HX, "HX-History-Restore-Request": "true"}).text
    assert "<html" in restore


def test_pagination_bounds() -> None:
    assert model.PAGE_SIZE == 50
    from accio.server.ui.views import _pages

    assert _pages(120, 0, 50) == {"total": 120, "first": 1, "last": 50, "prev": None, "next": 2}
    assert _pages(120, 100, 50) == {
        "total": 120,
        "first": 101,
        "last": 120,
        "prev": 2,
        "next": None,
    }
    assert _pages(0, 0, 50)["first"] == 0


def test_sweep_page(http: TestClient, demo: Demo) -> None:
    _, sweep, _ = demo
    page = http.get(f"/runs/{sweep.run_id}").text
    assert "privacy utility sweep" in page and "epsilon against utility" in page
    assert "20170615" in page and 'data-copy="20170615"' in page
    assert "swept</span> 0.001 … 10.0" in page
    assert "10 combinations × 3 repeats" in page
    assert page.count('class="node state-success"') == 5  # the graph, every node done
    assert 'hx-trigger="every' not in page  # finished: no polling
    assert 'hx-get="/runs/' + sweep.run_id + '/plots" hx-trigger="load"' in page
    assert all(f"/runs/{c}" in page for c in sweep.child_ids)
    assert "/static/vega-embed.min.js" in page


def test_child_and_single_pages(http: TestClient, demo: Demo) -> None:
    client, sweep, single = demo
    child = http.get(f"/runs/{sweep.child_ids[12]}").text  # epsilon=0.1 offset=0 #1
    assert "Edit sweep" in child and f'href="/runs/{sweep.run_id}"' in child
    assert re.search(r"<dt>epsilon</dt><dd[^>]*>0\.1 <span", child)
    assert "vega" not in child  # no plot libraries on a page without plots
    page = http.get(f"/runs/{single.run_id}").text
    assert "lonely baseline" in page and "<dt>epsilon</dt>" in page
    assert ">averaging" not in page  # logs load on demand
    assert 'Mean</td><td>count</td><td class="muted">long</td><td' in page
    logs = http.get(f"/runs/{single.run_id}/nodes/Mean/logs", headers=HX).text
    assert "averaging 20 values" in logs
    assert http.get(f"/runs/{single.run_id}/nodes/Nope/logs").status_code == 404
    # a repeated stable node is a cache hit, shown with the run it came from
    nodes = {n.name: n for n in client.nodes(sweep.child_ids[1])}
    assert nodes["Eps"].state == "cached"
    repeat_page = http.get(f"/runs/{sweep.child_ids[1]}").text
    assert f'hit from <a href="/runs/{nodes["Eps"].cache_source}">' in repeat_page


def test_live_fragment(http: TestClient, demo: Demo) -> None:
    _, sweep, _ = demo
    live = http.get(f"/runs/{sweep.run_id}/live", headers=HX)
    assert live.text.lstrip().startswith('<section id="live"')
    assert 'data-state="success"' in live.text and "HX-Refresh" not in live.headers
    assert 'data-state="success">success <b>30</b>' in live.text
    ended = http.get(f"/runs/{sweep.run_id}/live", params={"was": "running"}, headers=HX)
    assert ended.headers["HX-Refresh"] == "true"
    children = http.get(f"/runs/{sweep.run_id}/children", params={"page": 1}, headers=HX).text
    assert children.count("<tr>") == 31  # header and 30 children


def test_edit_child_edits_parent(http: TestClient, demo: Demo) -> None:
    client, sweep, _ = demo
    before = client.run(sweep.run_id)
    try:
        r = http.post(
            f"/runs/{sweep.child_ids[2]}/edit",
            data={"name": "renamed sweep", "notes": "line 1\nline 2", "tags": "a, b ,,c"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/runs/{sweep.child_ids[2]}"
        parent = client.run(sweep.run_id)
        assert (parent.name, parent.notes, parent.tags) == (
            "renamed sweep",
            "line 1\nline 2",
            ("a", "b", "c"),
        )
        fragment = http.post(f"/runs/{sweep.run_id}/edit", data={"tags": "x"}, headers=HX).text
        assert fragment.lstrip().startswith('<section id="meta"')
        assert ">renamed sweep</h1>" in fragment and ">x</a>" in fragment
        assert http.post("/runs/nope/edit", data={"name": "x"}).status_code == 404
    finally:
        client.edit(sweep.run_id, name=before.name, notes=before.notes, tags=before.tags)


def test_plots(http: TestClient, demo: Demo) -> None:
    client, sweep, _ = demo
    html = http.get(f"/runs/{sweep.run_id}/plots", headers=HX).text
    charts = specs(html)
    # tradeoff + 5 numeric outputs (Eps, Noisy, Utility, Mean/mean, Mean/count) x 2 params
    assert len(charts) == 1 + 5 * 2
    assert f'href="/runs/{sweep.run_id}/results.csv"' in html
    by_metric = {
        c["usermeta"]["metric"]: c for c in charts[1:] if c["usermeta"]["param"] == "epsilon"
    }
    utility = by_metric["Utility/sum"]
    assert utility["title"]["text"] == "Utility: sum"  # readable, not the column name
    assert utility["encoding"]["x"]["scale"] == {"type": "log"}  # 1e-3 to 10: four decades
    points = utility["data"]["values"]
    assert len(points) == 10 and {p["n"] for p in points} == {3}
    # series in numeric order, one number format
    assert utility["encoding"]["color"]["sort"] == ["0", "1"]
    # an unbounded metric: Student's t over the repeats, recomputable from the CSV
    rows = list(csv.DictReader(io.StringIO(http.get(f"/runs/{sweep.run_id}/results.csv").text)))
    assert len(rows) == 30
    group = [
        float(r["Utility/sum"])
        for r in rows
        if float(r["epsilon"]) == 1 and float(r["offset"]) == 0
    ]
    point = next(p for p in points if p["x"] == 1 and p["series"] == "0")
    assert point["mean"] == pytest.approx(statistics.fmean(group))
    half = 4.302652729911275 * statistics.stdev(group) / 3**0.5  # t(0.975, 2)
    assert point["hi"] - point["mean"] == pytest.approx(half)
    other = {c["usermeta"]["metric"]: c for c in charts[1:] if c["usermeta"]["param"] == "offset"}
    assert other["Utility/sum"]["encoding"]["x"]["scale"] == {"zero": False}  # linear
    tradeoff = http.get(
        f"/runs/{sweep.run_id}/plots/tradeoff",
        params={"x": "Eps/value", "y": "Utility/sum"},
        headers=HX,
    ).text
    spec = specs(tradeoff)[0]
    assert spec["title"]["text"] == "Utility: sum against Eps: value"
    assert len(spec["data"]["values"]) == 10
    assert {p["label"] for p in spec["data"]["values"]} == {"0.001", "0.01", "0.1", "1", "10"}
    table = pq.read_table(io.BytesIO(http.get(f"/runs/{sweep.run_id}/results.parquet").content))
    assert table.num_rows == 30 and "Mean/mean" in table.column_names
    assert table.equals(client.results(sweep.run_id))


def test_plot_options_and_figure_files(http: TestClient, demo: Demo) -> None:
    _, sweep, _ = demo
    html = http.get(
        f"/runs/{sweep.run_id}/plots",
        params={"log": "none", "size": "large", "font": "16"},
        headers=HX,
    ).text
    charts = specs(html)
    assert all(c["config"]["axis"]["labelFontSize"] == 16 for c in charts)
    assert {c["width"] for c in charts[1:]} == {520}
    assert all(c["encoding"]["x"].get("scale", {}).get("type") != "log" for c in charts[1:])
    assert 'option value="none" selected' in html
    pytest.importorskip("vl_convert", reason="vl-convert-python is not installed")
    svg = http.get(f"/runs/{sweep.run_id}/figure.svg", params={"log": "x"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    pdf = http.get(
        f"/runs/{sweep.run_id}/figure.pdf", params={"metric": "Utility/sum", "param": "epsilon"}
    )
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert "Utility-sum-vs-epsilon.pdf" in pdf.headers["content-disposition"]
    bad = http.get(f"/runs/{sweep.run_id}/figure.png", params={"metric": "No/such", "param": "x"})
    assert bad.status_code == 400
    assert http.get(f"/runs/{sweep.run_id}/figure.gif").status_code == 404


def test_workflow_pages(http: TestClient, demo: Demo) -> None:
    listing = http.get("/workflows").text
    assert 'href="/workflows/privacy_demo"' in listing and "Privacy demo" in listing
    page = http.get("/workflows/privacy_demo").text
    assert page.count('<g class="node state-none"') == 5
    assert "Noisy/value" in page and "param epsilon" in page
    assert http.get("/workflows/unknown").status_code == 404
    assert http.get("/runs/unknown").status_code == 404


def test_static_assets_shipped(http: TestClient) -> None:
    for name in ("htmx.min.js", "vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        r = http.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.content) > 10_000
        assert b"sourceMappingURL" not in r.content[-200:]
    licences = http.get("/static/LICENSES.txt").text
    assert "BSD-3-Clause" in licences and "0BSD" in licences


def test_graph_layers() -> None:
    wf = Workflow(
        "w",
        "v",
        (
            NodeDef("A", "Number"),
            NodeDef("B", "Number"),
            NodeDef("C", "Add", {"a": NodeRef("A", "value"), "b": NodeRef("B", "value")}),
            NodeDef("D", "Add", {"a": NodeRef("C", "sum"), "b": NodeRef("A", "value")}),
        ),
    )
    assert graph.layers(wf) == {"A": 0, "B": 0, "C": 1, "D": 2}
    svg = graph.graph_svg(wf, {"C": graph.NodeBadge("failed", "boom <b>")})
    assert svg.count('class="edge"') == 4 and 'class="node state-failed"' in svg
    assert "boom &lt;b&gt;" in svg


def test_mean_ci_and_search_words() -> None:
    assert plots.mean_ci([2.0]) == (2.0, 2.0, 2.0)
    mean, lo, hi = plots.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and hi - mean == pytest.approx(3.182446305284263 * (5 / 3) ** 0.5 / 2)
    assert lo == pytest.approx(2 * mean - hi)
    assert model.parse_search("owner:ann wf:x tag:t1 tag:t2 geo ind") == {
        "owner": "ann",
        "workflow": "x",
        "tags": ("t1", "t2"),
        "text": "geo ind",
    }
    assert model.parse_search("  ") == {}


def test_kill_rerun_and_delete(http: TestClient, demo: Demo) -> None:
    client, sweep, single = demo
    page = http.get(f"/runs/{single.run_id}").text
    assert 'id="rerun-button"' in page and 'id="delete-button"' in page
    assert 'id="kill-button"' not in page  # finished: nothing to kill
    # re-run a finished run with its seed: a new run with the same parameters and seed
    r = http.post(f"/runs/{single.run_id}/rerun", data={"seed": "same"}, follow_redirects=False)
    assert r.status_code == 303
    new_id = r.headers["location"].rsplit("/", 1)[1]
    new = client.run(new_id)
    old = client.run(single.run_id)
    assert new.id != old.id and new.seed == old.seed and new.params == old.params
    assert new.name == "lonely baseline (re-run)" and new.state == "pending"
    assert 'id="kill-button"' in http.get(f"/runs/{new_id}").text  # unfinished: killable
    assert http.post(f"/runs/{new_id}/kill", follow_redirects=False).status_code == 303
    assert client.run(new_id).state == "killed"
    # delete asks for the id's first 8 characters
    assert http.post(f"/runs/{new_id}/delete", data={"confirm": "nope"}).status_code == 400
    client.run(new_id)  # still there
    r = http.post(f"/runs/{new_id}/delete", data={"confirm": new_id[:8]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert http.get(f"/runs/{new_id}").status_code == 404
    # a sweep re-runs from its children: same values, repeats and child count; a new seed
    r = http.post(f"/runs/{sweep.run_id}/rerun", data={"seed": "new"}, follow_redirects=False)
    again = client.run(r.headers["location"].rsplit("/", 1)[1])
    parent = client.run(sweep.run_id)
    assert again.n_children == parent.n_children == 30 and again.seed != parent.seed
    old_params = [c.params for c in client.children(sweep.run_id)]
    assert [c.params for c in client.children(again.id)] == old_params
    client.delete([again.id])
    assert http.post("/runs/nope/kill").status_code == 404


def test_compare_page(http: TestClient, demo: Demo) -> None:
    client, sweep, single = demo
    page = http.get("/compare", params=[("runs", sweep.run_id), ("runs", single.run_id)])
    assert page.status_code == 200
    html = page.text
    assert html.count('<tr class="param">') == 2  # epsilon, offset
    assert "0.001, 0.01, 0.1, 1, 10" in html  # the sweep's epsilon values in one format
    assert "Utility: sum" in html
    charts = specs(html)  # a single run shares no swept parameter: only the trade-off
    assert [c["usermeta"]["kind"] for c in charts] == ["tradeoff"]
    sweep_label = f"privacy utility sweep ({sweep.run_id[:6]})"
    # one colour per run, and per series of a run (the sweep's offsets are not joined)
    assert {p["series"] for p in charts[0]["data"]["values"]} == {
        f"{sweep_label} · 0",
        f"{sweep_label} · 1",
        f"lonely baseline ({single.run_id[:6]})",
    }
    # one run: a picker among the runs of its workflow
    one = http.get("/compare", params={"runs": sweep.run_id})
    assert one.status_code == 200 and "Choose 2 to 5 runs (got 1)" in one.text
    assert f'name="runs" value="{single.run_id}"' in one.text
    assert f'type="hidden" name="runs" value="{sweep.run_id}"' in one.text
    six = [("runs", r.id) for r in client.children(sweep.run_id, limit=6)]
    assert http.get("/compare", params=six).status_code == 400
    assert http.get("/compare", params=[("runs", "x"), ("runs", "y")]).status_code == 404
    listing = http.get("/").text
    assert 'action="/compare"' in listing and 'name="runs" value="' in listing


def test_dataset_preview(http: TestClient, demo: Demo) -> None:
    client, _, single = demo
    table_node = client.node(single.run_id, "Table")
    digest = json.loads(table_node.outputs or "{}")["data"]["value"]
    run_page = http.get(f"/runs/{single.run_id}").text
    assert f'href="/datasets/{digest}"' in run_page
    html = http.get(f"/datasets/{digest}").text
    assert '<dd id="row-count">20</dd>' in html
    assert "<td>id</td>" in html and "<td>x</td>" in html  # schema
    assert html.count('<tr><td class="nowrap">') == 20
    assert f"/api/v1/datasets/{digest}?format=csv" in html
    csv_text = http.get(f"/api/v1/datasets/{digest}", params={"format": "csv"}).text
    assert len(csv_text.strip().splitlines()) == 21
    assert http.get("/datasets/" + "0" * 64).status_code == 404


def test_canonical_values_breadcrumb_and_offline_docs(http: TestClient, demo: Demo) -> None:
    client, sweep, _ = demo
    client.push(
        {
            "id": "timed",
            "params": [{"name": "pause", "kind": "duration", "default_value": "90.minutes"}],
            "graph": [
                {"op": "Sleep", "name": "Wait", "inputs": {"duration": "4.hours", "value": 1.5}},
                {
                    "op": "Sleep",
                    "name": "Rest",
                    "inputs": {"duration": {"param": "pause"}, "value": 2},
                },
            ],
        }
    )
    html = http.get("/workflows/timed").text
    assert "<code>4.hours</code>" in html and "Duration(" not in html
    assert "<code>1.hours+30.minutes</code>" in html  # accio.values.render
    # the breadcrumb is part of the fragment an edit swaps in
    child = client.children(sweep.run_id, limit=1)[0]
    frag = http.post(f"/runs/{child.id}/edit", data={"name": "renamed sweep"}, headers=HX).text
    assert 'id="crumbs"' in frag and "renamed sweep</a>" in frag
    client.edit(sweep.run_id, name="privacy utility sweep")
    assert http.get("/docs").status_code == 404 and http.get("/redoc").status_code == 404
    assert http.get("/openapi.json").status_code == 200


def test_a_paused_scheduler_shows_a_banner_on_every_page(
    http: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accio.client.contract import SchedulerStatus

    client, sweep, _ = demo
    assert 'id="scheduler-condition"' not in http.get("/").text  # healthy: no banner
    paused = SchedulerStatus(True, 4242, None, condition="storage full (ENOSPC), retrying")
    monkeypatch.setattr(client, "scheduler_status", lambda: paused)
    http.app.state.scheduler_condition.forget()  # asked at most every 0.5 s otherwise
    for path in ("/", f"/runs/{sweep.run_id}", "/workflows"):
        page = http.get(path).text
        assert 'id="scheduler-condition"' in page and "storage full (ENOSPC)" in page, path
