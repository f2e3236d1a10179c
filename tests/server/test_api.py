"""The REST API: every endpoint, bad input (4xx with field names, never 5xx), the error shape,
a bounded schemathesis run against the OpenAPI schema, and serving from a thread."""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # Starlette >= 1.x prefers the httpx2 fork; the API works the same with httpx.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from accio import __version__
from accio.client.client import Client
from accio.config import Settings
from accio.server.app import create_app
from accio.server.http import serve_in_thread

V1 = "/api/v1"
WORKFLOW: dict[str, Any] = {
    "id": "noisy",
    "name": "Noisy numbers",
    "params": [
        {"name": "a", "kind": "double"},
        {"name": "scale", "kind": "double", "default_value": 1.0},
    ],
    "graph": [
        {"op": "Number", "name": "Num", "inputs": {"value": {"param": "a"}}},
        {
            "op": "Noise",
            "name": "Noisy",
            "inputs": {"value": {"reference": "Num/value"}, "scale": {"param": "scale"}},
        },
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": 3}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
    ],
}
SWEEP: dict[str, Any] = {
    "workflow": "noisy",
    "name": "the sweep",
    "tags": ["demo"],
    "seed": 11,
    "repeat": 2,
    "params": {"a": {"values": [1, 2]}},
}
FAILING: dict[str, Any] = {
    "id": "failing",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Num", "inputs": {"value": {"param": "x"}}},
        {"op": "Fail", "name": "Boom", "inputs": {"value": {"reference": "Num/value"}}},
    ],
}


class Home:
    """One Accio home shared by the module: a finished sweep, a single run and a failed run."""

    def __init__(self, client: Client, app: FastAPI) -> None:
        self.client = client
        self.app = app
        self.http = TestClient(app)
        sweep = client.submit(SWEEP)
        single = client.submit({"workflow": "noisy", "params": {"a": 5}, "tags": ["solo"]})
        failed = client.submit({"workflow": "failing", "params": {"x": 1}})
        client.execute("inline")
        self.sweep, self.children = sweep.run_id, list(sweep.child_ids)
        self.single, self.failed = single.run_id, failed.run_id


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCIO_PLUGINS", "accio.testing:operators")
        mp.setenv("ACCIO_HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("ACCIO_USER", "alice")
        client = Client(settings=Settings.from_env(), autostart=False)
        client.push(WORKFLOW)
        client.push(FAILING)
        app = create_app(client=client)
        yield Home(client, app)
        client.close()


@pytest.fixture
def api(home: Home) -> TestClient:
    return home.http


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) >= {"errors"}, body
    for item in body["errors"]:
        assert set(item) == {"file", "path", "message"}
    return list(body["errors"])


def paths_of(response: httpx.Response) -> set[str | None]:
    return {e["path"] for e in errors_of(response)}


# -- meta ------------------------------------------------------------------------------------


def test_version_health_and_openapi(api: TestClient) -> None:
    assert api.get(V1).json() == {"name": "accio", "version": __version__, "api": "v1"}
    assert api.get("/health").json() == {"status": "ok"}
    schema = api.get("/openapi.json").json()
    paths = set(schema["paths"])
    for path in (
        "/api/v1/operators/{name}",
        "/api/v1/workflows/{spec}",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}/nodes/{node}/logs",
        "/api/v1/runs/{run_id}/results",
        "/api/v1/runs/{run_id}/aggregate",
    ):
        assert path in paths
    # errors are documented with their real shape
    get_run = schema["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]
    assert get_run["404"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert get_run["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")


def test_unknown_route_and_method_use_the_error_shape(api: TestClient) -> None:
    response = api.get(f"{V1}/nope")
    assert response.status_code == 404 and errors_of(response)
    response = api.put(f"{V1}/runs")
    assert response.status_code == 405 and errors_of(response)


def test_unexpected_exceptions_give_a_generic_500(home: Home) -> None:
    app = create_app(client=home.client)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret /path/inside")

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "errors": [{"file": None, "path": None, "message": "internal server error"}],
        "warnings": [],
    }


# -- operators -------------------------------------------------------------------------------


def test_operators(api: TestClient) -> None:
    page = api.get(f"{V1}/operators", params={"per_page": 3}).json()
    assert page["total"] >= 8 and len(page["items"]) == 3 and page["per_page"] == 3
    found = api.get(f"{V1}/operators", params={"q": "noi", "category": "test"}).json()
    assert {o["name"] for o in found["items"]} == {"Noise"}  # plugins may add other *Noise
    noise = api.get(f"{V1}/operators/Noise").json()
    assert noise["category"] == "test" and noise["unstable"] is True
    assert {p["name"] for p in noise["inputs"]} == {"value", "scale"}
    assert [(o["name"], o["type"]) for o in noise["outputs"]] == [("value", "double")]
    response = api.get(f"{V1}/operators/Nope")
    assert response.status_code == 404 and "Nope" in errors_of(response)[0]["message"]
    response = api.get(f"{V1}/operators", params={"per_page": 0, "page": "x"})
    assert response.status_code == 422
    assert paths_of(response) == {"query.per_page", "query.page"}


# -- workflows -------------------------------------------------------------------------------


def test_workflows_list_get_versions(api: TestClient) -> None:
    page = api.get(f"{V1}/workflows").json()
    assert {w["id"] for w in page["items"]} >= {"noisy", "failing"}
    assert page["total"] == len(page["items"])
    assert [
        w["id"] for w in api.get(f"{V1}/workflows", params={"q": "Noisy N"}).json()["items"]
    ] == ["noisy"]
    detail = api.get(f"{V1}/workflows/noisy").json()
    assert detail["name"] == "Noisy numbers" and detail["active"] is True
    assert [p["name"] for p in detail["params"]] == ["a", "scale"]
    assert detail["params"][0]["required"] is True and detail["params"][1]["default"] == 1.0
    noisy = next(n for n in detail["nodes"] if n["name"] == "Noisy")
    assert noisy["inputs"] == {"value": "Num/value", "scale": "$scale"}
    assert noisy["depends_on"] == ["Num"]
    by_version = api.get(f"{V1}/workflows/noisy:{detail['version'][:10]}").json()
    assert by_version["version"] == detail["version"]
    versions = api.get(f"{V1}/workflows/noisy/versions").json()
    assert versions["items"][0]["version"] == detail["version"]
    for bad in ("nope", "noisy:ffff0000", "noisy:zz"):
        assert api.get(f"{V1}/workflows/{bad}").status_code == 404, bad
    assert api.get(f"{V1}/workflows/nope/versions").status_code == 404


def test_push_workflow(api: TestClient) -> None:
    document = {**WORKFLOW, "id": "pushed", "name": "pushed over HTTP"}
    response = api.post(f"{V1}/workflows", json=document)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "pushed" and body["new"] is True and len(body["version"]) == 40
    again = api.post(
        f"{V1}/workflows/pushed", json={k: v for k, v in document.items() if k != "id"}
    )
    assert again.status_code == 201 and again.json()["new"] is False
    mismatch = api.post(f"{V1}/workflows/other", json=document)
    assert mismatch.status_code == 422 and paths_of(mismatch) == {"body.id"}


def test_push_invalid_workflow_names_the_fields(api: TestClient) -> None:
    bad = {
        "id": "broken",
        "params": [{"name": "a", "kind": "nonsense"}],
        "graph": [{"op": "Nope", "name": "X", "inputs": {}}],
    }
    response = api.post(f"{V1}/workflows", json=bad)
    assert response.status_code == 422
    paths = paths_of(response)
    assert any(p and p.startswith("params[0]") for p in paths), paths
    assert any(p and p.startswith("graph[0]") for p in paths), paths
    not_an_object = api.post(f"{V1}/workflows", json=[1, 2])
    assert not_an_object.status_code == 422 and paths_of(not_an_object) == {"body"}
    assert api.get(f"{V1}/workflows/broken").status_code == 404


def test_validate(api: TestClient) -> None:
    run = api.post(f"{V1}/validate", json=SWEEP).json()
    assert run == {"kind": "run", "valid": True, "errors": [], "warnings": [], "children": 4}
    assert api.post(f"{V1}/validate", json=WORKFLOW).json()["valid"] is True
    bad = api.post(f"{V1}/validate", json={**SWEEP, "params": {"zzz": 1}}).json()
    assert bad["valid"] is False and bad["errors"]
    unknown = api.post(f"{V1}/validate", json={"workflow": "nope"}).json()
    assert unknown["valid"] is False


# -- runs ------------------------------------------------------------------------------------


def test_list_runs_with_filters(api: TestClient, home: Home) -> None:
    page = api.get(f"{V1}/runs").json()
    ids = [r["id"] for r in page["items"]]
    assert {home.sweep, home.single, home.failed} <= set(ids)
    assert not set(home.children) & set(ids)  # top level only
    created = [r["created"] for r in page["items"]]
    assert created == sorted(created, reverse=True)  # newest first

    def ids_of(**params: Any) -> set[str]:
        response = api.get(f"{V1}/runs", params=params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["items"]}

    assert ids_of(workflow="failing") == {home.failed}
    assert ids_of(state="failed") == {home.failed}
    assert home.sweep in ids_of(tag="demo") and home.single not in ids_of(tag="demo")
    assert ids_of(q="sweep") == {home.sweep}
    assert home.sweep in ids_of(owner="alice") and not ids_of(owner="bob")
    assert ids_of(parent=home.sweep) == set(home.children)
    one = api.get(f"{V1}/runs", params={"parent": home.sweep, "per_page": 1, "page": 2}).json()
    assert one["total"] == 4 and len(one["items"]) == 1 and one["page"] == 2
    bad = api.get(f"{V1}/runs", params={"state": "sleeping"})
    assert bad.status_code == 422 and paths_of(bad) == {"query.state[0]"}
    assert api.get(f"{V1}/runs", params={"parent": "f" * 32}).status_code == 404


def test_get_run(api: TestClient, home: Home) -> None:
    parent = api.get(f"{V1}/runs/{home.sweep}").json()
    assert parent["n_children"] == 4 and parent["child_counts"] == {"success": 4}
    assert parent["param_values"]["a"] == ["1.0", "2.0"]
    assert parent["seed"] == 11 and parent["name"] == "the sweep"
    child = api.get(f"{V1}/runs/{home.children[1]}").json()
    assert child["parent_id"] == home.sweep
    assert child["params"]["a"] == {"type": "double", "value": 1.0, "text": "1.0"}
    assert child["params"]["scale"]["text"] == "1.0"
    assert isinstance(child["seed"], int) and child["repeat_index"] == 1
    # the second repeat reuses the stable Num node of the first one
    assert child["node_counts"] == {"success": 3, "cached": 1} and child["duration"] is not None
    assert api.get(f"{V1}/runs/{'0' * 32}").status_code == 404
    bare = api.get(f"{V1}/runs/{home.sweep}", params={"summary": "false"}).json()
    assert bare["child_counts"] == {} and bare["param_values"] == {}  # the run alone
    assert (bare["id"], bare["state"], bare["n_children"]) == (home.sweep, "success", 4)


def test_child_node_counts_and_run_id_prefixes(api: TestClient, home: Home) -> None:
    counts = api.get(f"{V1}/runs/{home.sweep}/child-node-counts").json()
    assert set(counts) == {"Num", "Noisy", "Table", "Avg"}
    assert all(sum(states.values()) == 4 for states in counts.values())
    assert api.get(f"{V1}/runs/{home.single}/child-node-counts").json() == {}
    assert api.get(f"{V1}/runs/{'0' * 32}/child-node-counts").status_code == 404
    tally = api.get(f"{V1}/runs/{home.sweep}/counts").json()
    assert tally == {"children": {"success": 4}, "nodes": {}}
    tally = api.get(f"{V1}/runs/{home.children[1]}/counts").json()
    assert tally == {"children": {}, "nodes": {"success": 3, "cached": 1}}
    child = home.children[2]
    found = api.get(f"{V1}/run-ids", params={"prefix": child[:10]}).json()
    assert found == {"ids": [child]}  # children are found, not only top-level runs
    assert api.get(f"{V1}/run-ids", params={"prefix": "zz"}).json() == {"ids": []}
    empty = api.get(f"{V1}/run-ids", params={"prefix": ""})
    assert empty.status_code == 422 and paths_of(empty) == {"query.prefix"}


def test_children(api: TestClient, home: Home) -> None:
    page = api.get(f"{V1}/runs/{home.sweep}/children", params={"per_page": 3}).json()
    assert page["total"] == 4 and [r["child_index"] for r in page["items"]] == [0, 1, 2]
    done = api.get(f"{V1}/runs/{home.sweep}/children", params={"state": "success"}).json()
    assert done["total"] == 4
    assert api.get(f"{V1}/runs/{home.single}/children").json()["total"] == 0


def test_submit_edit_kill_delete(api: TestClient, home: Home) -> None:
    response = api.post(
        f"{V1}/runs",
        json={"definition": SWEEP, "params": {"scale": "0.5"}, "name": "http", "repeat": 1},
    )
    assert response.status_code == 201, response.text
    sub = response.json()
    assert len(sub["child_ids"]) == 2 and sub["seed"] == 11 and sub["workflow_id"] == "noisy"
    child = api.get(f"{V1}/runs/{sub['child_ids'][0]}").json()
    assert child["params"]["scale"]["value"] == 0.5 and child["state"] == "pending"

    edited = api.patch(f"{V1}/runs/{sub['child_ids'][0]}", json={"notes": "n", "tags": ["x"]})
    assert edited.status_code == 200
    assert edited.json()["id"] == sub["run_id"]  # a child edits its parent
    assert edited.json()["tags"] == ["x"] and edited.json()["name"] == "http"
    renamed = api.post(f"{V1}/runs/{sub['run_id']}", json={"name": "renamed"}).json()
    assert renamed["name"] == "renamed" and renamed["notes"] == "n"
    bad_edit = api.patch(f"{V1}/runs/{sub['run_id']}", json={"tags": "x", "colour": 1})
    assert bad_edit.status_code == 422 and paths_of(bad_edit) == {"body.tags", "body.colour"}

    killed = api.post(f"{V1}/runs/{sub['run_id']}/kill")
    assert killed.json() == {"killed": [sub["run_id"]], "already_finished": []}
    assert api.get(f"{V1}/runs/{sub['run_id']}").json()["state"] == "killed"
    again = api.post(f"{V1}/runs/{sub['run_id']}/kill").json()
    assert again == {"killed": [], "already_finished": [sub["run_id"]]}

    deleted = api.delete(f"{V1}/runs/{sub['run_id']}")
    assert deleted.status_code == 200 and sub["run_id"] in deleted.json()["deleted"]
    assert api.get(f"{V1}/runs/{sub['run_id']}").status_code == 404
    assert api.get(f"{V1}/runs/{sub['child_ids'][1]}").status_code == 404
    assert api.delete(f"{V1}/runs/{sub['run_id']}").status_code == 404
    assert api.post(f"{V1}/runs/{sub['run_id']}/kill").status_code == 404


def test_submit_bad_input(api: TestClient) -> None:
    no_def = api.post(f"{V1}/runs", json={"params": {}})
    assert no_def.status_code == 422 and paths_of(no_def) == {"body.definition"}
    bad_repeat = api.post(f"{V1}/runs", json={"definition": SWEEP, "repeat": 0})
    assert bad_repeat.status_code == 422 and paths_of(bad_repeat) == {"body.repeat"}
    bad_param = api.post(f"{V1}/runs", json={"definition": SWEEP, "params": {"a": "abc"}})
    assert bad_param.status_code == 422 and errors_of(bad_param)
    unknown_param = api.post(f"{V1}/runs", json={"definition": {**SWEEP, "params": {"zz": 1}}})
    assert unknown_param.status_code == 422
    assert any("zz" in (e["path"] or "") + e["message"] for e in errors_of(unknown_param))
    unknown_wf = api.post(f"{V1}/runs", json={"definition": {"workflow": "nope"}})
    assert 400 <= unknown_wf.status_code < 500 and errors_of(unknown_wf)


# -- nodes -----------------------------------------------------------------------------------


def test_nodes_outputs_logs(api: TestClient, home: Home) -> None:
    child = home.children[0]
    nodes = api.get(f"{V1}/runs/{child}/nodes").json()
    assert [n["name"] for n in nodes["items"]][:1] in (["Num"], ["Table"])
    assert nodes["total"] == 4
    for n in nodes["items"]:
        assert n["state"] == "success" and n["duration"] is not None and n["cached"] is False
    # the second repeat of the same parameters reuses the stable Num node of the first
    other = api.get(f"{V1}/runs/{home.children[1]}/nodes").json()["items"]
    assert [(n["name"], n["cache_source"]) for n in other if n["cached"]] == [("Num", child)]
    node = api.get(f"{V1}/runs/{child}/nodes/Avg").json()
    assert node["outputs"]["count"] == {"type": "long", "value": 3, "text": "3"}
    outputs = api.get(f"{V1}/runs/{child}/nodes/Table/outputs").json()
    assert outputs["data"]["type"] == "dataset" and len(outputs["data"]["value"]) == 64
    logs = api.get(f"{V1}/runs/{child}/nodes/Avg/logs").json()
    assert [x["line"] for x in logs["items"]] == ["averaging 3 values"]
    assert logs["items"][0]["stream"] == "stdout"
    assert (
        api.get(f"{V1}/runs/{child}/nodes/Avg/logs", params={"stream": "stderr"}).json()["items"]
        == []
    )
    text = api.get(f"{V1}/runs/{child}/nodes/Avg/logs", params={"download": True})
    assert text.text == "averaging 3 values\n"
    assert text.headers["content-disposition"].startswith("attachment")
    assert api.get(f"{V1}/runs/{child}/nodes/Nope").status_code == 404
    assert api.get(f"{V1}/runs/{child}/nodes/Nope/logs").status_code == 404
    bad = api.get(f"{V1}/runs/{child}/nodes/Avg/logs", params={"stream": "x", "tail": -1})
    assert bad.status_code == 422 and paths_of(bad) == {"query.stream[0]", "query.tail"}
    failed = api.get(f"{V1}/runs/{home.failed}/nodes/Boom").json()
    assert failed["state"] == "failed" and "asked to fail" in str(failed["error"])


def test_explain(api: TestClient, home: Home) -> None:
    single = api.get(f"{V1}/runs/{home.single}/explain").json()
    assert single["total"] == 1 and {e["node"] for e in single["items"]} == {
        "Num",
        "Noisy",
        "Table",
        "Avg",
    }
    parent = api.get(f"{V1}/runs/{home.sweep}/explain", params={"per_page": 2}).json()
    assert parent["total"] == 4 and len({e["run_id"] for e in parent["items"]}) == 2
    one = api.get(f"{V1}/runs/{home.single}/explain", params={"node": "Avg"}).json()
    assert [e["node"] for e in one["items"]] == ["Avg"]
    assert api.get(f"{V1}/runs/{home.single}/explain", params={"node": "Z"}).status_code == 404


# -- results ---------------------------------------------------------------------------------


def test_results_json_csv_parquet(api: TestClient, home: Home) -> None:
    url = f"{V1}/runs/{home.sweep}/results"
    page = api.get(url, params={"per_page": 5}).json()
    assert page["total"] == 4 * 5 and len(page["rows"]) == 5
    assert page["params"] == ["a", "scale"] and "value" in page["columns"]
    noisy = api.get(url, params={"outputs": "Noisy/value", "per_page": 500}).json()
    assert noisy["total"] == 4 and {r["a"] for r in noisy["rows"]} == {1.0, 2.0}
    both = api.get(url, params=[("outputs", "Noisy/value"), ("outputs", "Avg/count")]).json()
    assert both["total"] == 8
    csv = api.get(url, params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert pacsv.read_csv(io.BytesIO(csv.content)).num_rows == 20
    parquet = api.get(url, params={"format": "parquet", "outputs": "Avg"})
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 8
    bad = api.get(url, params={"outputs": "Nope/x"})
    assert bad.status_code == 422 and paths_of(bad) == {"query.outputs"}
    bad_fmt = api.get(url, params={"format": "xls"})
    assert bad_fmt.status_code == 422 and paths_of(bad_fmt) == {"query.format"}
    assert api.get(f"{V1}/runs/{'e' * 32}/results").status_code == 404
    wide = api.get(url, params={"shape": "wide"}).json()  # what both clients' results() return
    assert wide["total"] == 4 and wide["params"] == ["a", "scale"]
    assert {"run_id", "repeat", "seed", "state", "Noisy/value", "Avg/mean"} <= set(wide["columns"])
    assert [r["run_id"] for r in wide["rows"]] == home.children


def test_aggregate(api: TestClient, home: Home) -> None:
    url = f"{V1}/runs/{home.sweep}/aggregate"
    rows = api.get(url, params={"outputs": "Noisy/value"}).json()["rows"]
    values = api.get(f"{V1}/runs/{home.sweep}/results", params={"outputs": "Noisy/value"}).json()[
        "rows"
    ]
    assert [r["a"] for r in rows] == [1.0, 2.0]
    for row in rows:
        mine = [v["value"] for v in values if v["a"] == row["a"]]
        assert row["count"] == 2 and row["mean"] == pytest.approx(sum(mine) / 2)
        # t(0.975, 1) = 12.706204736174698; std of two values = |x - y| / sqrt(2)
        std = abs(mine[0] - mine[1]) / 2**0.5
        assert row["ci95"] == pytest.approx(12.706204736174698 * std / 2**0.5)
    pooled = api.get(url, params={"by": "scale", "outputs": "Noisy/value"}).json()["rows"]
    assert len(pooled) == 1 and pooled[0]["count"] == 4
    bad = api.get(url, params={"by": "nope"})
    assert bad.status_code == 422 and paths_of(bad) == {"query.by"}
    csv = api.get(url, params={"format": "csv"})
    assert pacsv.read_csv(io.BytesIO(csv.content)).num_rows == 2 * 4  # Num, Noisy, Avg x2


def test_validation_and_datasets(api: TestClient, home: Home) -> None:
    ok = api.get(f"{V1}/runs/{home.sweep}/validation").json()
    assert ok["ok"] is True and ok["expected"] == ok["succeeded"] == 4
    failed = api.get(f"{V1}/runs/{home.failed}/validation").json()
    assert failed["ok"] is False
    assert "Boom" in failed["problems"][0]["reason"]
    digest = api.get(f"{V1}/runs/{home.single}/nodes/Table/outputs").json()["data"]["value"]
    parquet = api.get(f"{V1}/datasets/{digest}")
    assert parquet.status_code == 200
    assert pq.read_table(io.BytesIO(parquet.content)).column_names == ["id", "x"]
    rows = api.get(f"{V1}/datasets/{digest}", params={"format": "json"}).json()
    assert rows["total"] == 3 and rows["columns"] == ["id", "x"]
    assert api.get(f"{V1}/datasets/{'a' * 64}").status_code == 404
    assert api.get(f"{V1}/datasets/not-a-digest").status_code == 404


def test_gc(api: TestClient) -> None:
    body = api.post(f"{V1}/gc").json()
    assert body["files"] >= 0 and body["bytes"] >= 0


# -- fuzzing and serving ---------------------------------------------------------------------


def test_schemathesis_finds_no_server_error(home: Home) -> None:
    """Generated requests for every operation: 4xx is fine, 5xx is a bug."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    schema = schemathesis.openapi.from_asgi("/openapi.json", home.app)
    failures: list[str] = []
    calls: list[int] = []
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations()]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in ((o, m) for o in operations for m in modes):
        if not operation.path.startswith(V1):
            continue
        has_body = bool(operation.get_request_payload_content_types())
        if mode is schemathesis.GenerationMode.NEGATIVE and not (
            has_body or any(p.location != "path" for p in operation.iter_parameters())
        ):
            continue  # a path string has no invalid form: Hypothesis would search in vain

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=4,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

        try:
            check()
        except Unsatisfiable:  # nothing to break in an operation without inputs
            assert mode is schemathesis.GenerationMode.NEGATIVE
    assert not failures, failures
    assert len(calls) > 2 * len(operations)  # the run was not vacuous
    assert time.monotonic() - started < 60


def test_serve_in_thread(home: Home) -> None:
    handle = serve_in_thread(home.app, "127.0.0.1", 0)
    try:
        assert handle.running and handle.port > 0
        response = httpx.get(f"{handle.url}{V1}", timeout=5)
        assert response.json()["version"] == __version__
    finally:
        handle.stop()
    assert not handle.running


def test_create_app_opens_its_own_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    settings = Settings.from_env({"ACCIO_HOME": str(tmp_path / "own"), "ACCIO_USER": "u"})
    with TestClient(create_app(settings)) as api:
        assert api.get(f"{V1}/runs").json() == {"items": [], "total": 0, "page": 1, "per_page": 50}
