"""A generated corpus of malformed HTTP requests against the real app, served over loopback.

The app (REST API and web UI) is served by uvicorn from a thread, over a temporary home that
holds one workflow and one run. Every mutating route of ``/openapi.json`` gets garbage bodies
(bad JSON, wrong types for each field of its schema, huge numbers, deep nesting, lone surrogates,
non-UTF-8 bytes, wrong content types) with real, unknown and malformed ids; every query
parameter of every listing gets bad values; the UI's pages and forms get unknown ids and
non-UTF-8 form bodies; bodies over the limit come announced (Content-Length) and streamed
(chunked). Whatever the request: no HTTP 5xx, no traceback in a body, and not one run or
workflow written. The counts are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from accio.client.local import LocalClient
from accio.config import Settings
from accio.server.app import create_app
from accio.server.http import ServerHandle, serve_in_thread
from accio.testing import registry

SEED = 20261201
LIMIT = 256 * 1024  # the body limit of the app under test (the default is 16 MiB)
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "line ")
WORKFLOW: dict[str, Any] = {
    "id": "adder",
    "params": [{"name": "a", "kind": "double", "default_value": 1.0}],
    "graph": [
        {"op": "Number", "name": "Left", "inputs": {"value": {"param": "a"}}},
        {"op": "Add", "name": "Sum", "inputs": {"a": {"reference": "Left/value"}, "b": 2.0}},
    ],
}
MUTATING = ("post", "put", "patch", "delete")


@dataclass
class Served:
    url: str
    client: LocalClient
    run_id: str
    handle: ServerHandle
    openapi: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home: Path = tmp_path_factory.mktemp("http-corpus") / "home"
    settings = Settings.from_env({"ACCIO_HOME": str(home), "ACCIO_USER": "u"})
    client = LocalClient(settings=settings, registry=registry(), autostart=False)
    client.push(WORKFLOW)
    run_id = client.submit({"workflow": "adder", "seed": 3}, start=False).run_id
    app = create_app(client=client, owns_client=True, max_body_bytes=LIMIT)
    handle = serve_in_thread(app, "127.0.0.1", 0)
    try:
        api = httpx.get(f"{handle.url}/openapi.json", timeout=30).json()
        yield Served(handle.url, client, run_id, handle, api)
    finally:
        handle.stop()


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str
    content: bytes | None = None
    content_type: str | None = "application/json"
    params: tuple[tuple[str, str], ...] = ()


def _deep(depth: int) -> bytes:
    return b'{"definition": ' + b"[" * depth + b"]" * depth + b"}"


def garbage_bodies(rng: random.Random) -> list[tuple[str, bytes, str | None]]:
    """Bodies that no route should accept, whatever its schema."""
    huge = "9" * 5000
    bodies: list[tuple[str, bytes, str | None]] = [
        ("empty", b"", "application/json"),
        ("truncated", b'{"definition": {"id": "x"', "application/json"),
        ("not json", b"hello", "application/json"),
        ("null", b"null", "application/json"),
        ("list", b"[1, 2, 3]", "application/json"),
        ("number", b"42", "application/json"),
        ("string", b'"adder"', "application/json"),
        ("huge int", f'{{"definition": {huge}, "name": {huge}}}'.encode(), "application/json"),
        ("huge float", b'{"definition": 1e999, "seed": -1e999}', "application/json"),
        ("nan", b'{"definition": NaN, "seed": Infinity}', "application/json"),
        ("deep 100", _deep(100), "application/json"),
        ("deep 5000", _deep(5000), "application/json"),
        ("deep 100000", _deep(100_000), "application/json"),
        ("surrogate", b'{"definition": "\\ud800", "name": "\\udfff"}', "application/json"),
        ("latin-1", '{"name": "caf\xe9"}'.encode("latin-1"), "application/json"),
        ("bytes", bytes(rng.randrange(256) for _ in range(512)), "application/json"),
        ("bom+junk", b"\xef\xbb\xbf\xff\xfe{}", "application/json"),
        ("text/plain", b'{"definition": {}}', "text/plain"),
        ("no type", b'{"definition": {}}', None),
        ("multipart", b"--x\r\ngarbage\r\n--x--", "multipart/form-data; boundary=x"),
        ("form utf8", b"name=a&tags=b", "application/x-www-form-urlencoded"),
        ("form bytes", b"name=\xff\xfe&notes=\xc3", "application/x-www-form-urlencoded"),
        ("big string", json.dumps({"definition": "x" * 200_000}).encode(), "application/json"),
        ("many keys", json.dumps({f"k{i}": i for i in range(20_000)}).encode(), None),
    ]
    return bodies


JSON_TYPES: dict[str, tuple[Any, ...]] = {
    "null": (None,),
    "array": ([], [[[[]]]], [1, "a", None]),
    "object": ({}, {"$ref": "#"}),
    "integer": (10**40, -(10**40)),
    "number": (1e308, -1.5),
    "string": ("\u0000" * 3, "x" * 3000),
    "boolean": (True,),
}


def wrong_types(schema: dict[str, Any], components: dict[str, Any]) -> list[tuple[str, bytes]]:
    """For each field of a request body's schema, bodies with that field of a type its schema
    does not allow (a string where a list is expected, a 41-digit integer, a nested list...)."""
    ref = schema.get("$ref", "")
    if ref:
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    out = []
    for name, prop in dict(schema.get("properties", {})).items():
        allowed = {prop.get("type")} | {alt.get("type") for alt in prop.get("anyOf", [])}
        if "number" in allowed:
            allowed.add("integer")
        if allowed == {None}:  # any JSON value is allowed: only the huge and the deep
            allowed = {"null", "object", "string", "boolean", "number"}
        for kind, values in JSON_TYPES.items():
            if kind in allowed:
                continue
            for value in values:
                label = f"{name}={json.dumps(value)[:20]}"
                out.append((label, json.dumps({name: value}).encode()))
    return out


def bad_ids() -> list[str]:
    return [
        "nosuchrun",
        "0" * 64,
        "a",
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "%C3%A9t%C3%A9",
        "%FF%FE",
        "x" * 4000,
        "*",
        "%25s%25n",
    ]


def corpus(served: Served, rng: random.Random) -> list[Case]:
    """Every case, generated from the app's own schema plus the UI's routes."""
    cases: list[Case] = []
    components = served.openapi.get("components", {}).get("schemas", {})
    bodies = garbage_bodies(rng)
    for path, ops in served.openapi["paths"].items():
        for method, op in ops.items():
            has_params = "{" in path
            ids = bad_ids() if has_params else [""]
            if method in MUTATING:
                for bad in ids:  # unknown and malformed ids: nothing to act on
                    target = _fill(path, bad)
                    for label, body, ctype in bodies[:: 3 if has_params else 1]:
                        cases.append(
                            Case(
                                f"{method} {path} [{bad[:12]}] {label}",
                                method,
                                target,
                                body,
                                ctype,
                            )
                        )
                if "requestBody" in op:
                    target = _fill(path, served.run_id if "run_id" in path else "adder")
                    if method != "delete":
                        for label, body, ctype in bodies:
                            cases.append(
                                Case(f"{method} {path} {label}", method, target, body, ctype)
                            )
                    content = op["requestBody"].get("content", {})
                    schema = content.get("application/json", {}).get("schema", {})
                    for label, body in wrong_types(schema, components):
                        cases.append(Case(f"{method} {path} {label}", method, target, body))
            elif method == "get":
                for bad in ids[:4]:
                    cases.append(
                        Case(f"get {path} [{bad[:12]}]", "get", _fill(path, bad), None, None)
                    )
                target = _fill(path, served.run_id if "run_id" in path else "adder")
                for param in op.get("parameters", []):
                    if param["in"] != "query":
                        continue
                    for value in ("-1", "0", "abc", "1e309", "9" * 40, "%FF", "\x00", "x" * 3000):
                        cases.append(
                            Case(
                                f"get {path} ?{param['name']}={value[:8]!r}",
                                "get",
                                target,
                                None,
                                None,
                                ((param["name"], value),),
                            )
                        )
    for bad in [*bad_ids()[:6], served.run_id]:  # the web UI's pages and forms
        for page in ("", "/live", "/children", "/plots", "/plots/tradeoff", "/figure.svg"):
            cases.append(
                Case(f"ui get /runs/{bad[:12]}{page}", "get", f"/runs/{bad}{page}", None, None)
            )
        cases.append(Case(f"ui logs {bad[:12]}", "get", f"/runs/{bad}/nodes/%FF/logs", None, None))
        actions = ("edit",) if bad == served.run_id else ("edit", "kill", "delete", "rerun")
        for action in actions:
            for label, body in (("bytes", b"name=\xff\xfe\xfd"), ("half utf8", b"notes=\xc3")):
                form = "application/x-www-form-urlencoded"
                cases.append(
                    Case(
                        f"ui {action} {bad[:12]} {label}",
                        "post",
                        f"/runs/{bad}/{action}",
                        body,
                        form,
                    )
                )
    for query in (("a", "%FF"), ("ids", "\x00"), ("page", "-5"), ("x", "9" * 50)):
        cases.append(Case(f"ui / ?{query[0]}", "get", "/", None, None, (query,)))
        cases.append(Case(f"ui compare ?{query[0]}", "get", "/compare", None, None, (query,)))
    cases.append(Case("ui dataset", "get", "/datasets/%FF..", None, None))
    cases.append(Case("ui dataset short", "get", "/datasets/abc", None, None))
    return cases


def _fill(path: str, value: str) -> str:
    out = path
    while "{" in out:
        start = out.index("{")
        out = out[:start] + value + out[out.index("}", start) + 1 :]
    return out


def _has_traceback(text: str) -> bool:
    return TRACEBACK_MARKS[0] in text or ('File "' in text and ", line " in text)


def _counts(client: LocalClient) -> tuple[int, int, int]:
    """Runs, workflows and versions of the one workflow: what a request could have written."""
    workflows = client.count_workflows(include_inactive=True)
    return client.count_runs(), workflows, len(client.workflow_versions("adder"))


def test_malformed_requests_get_clean_errors(served: Served) -> None:
    rng = random.Random(SEED)
    cases = corpus(served, rng)
    assert len(cases) >= 150
    before = _counts(served.client)
    record = served.client.run(served.run_id)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for case in cases:
            headers = {"content-type": case.content_type} if case.content_type else {}
            try:
                response = http.request(
                    case.method.upper(),
                    case.path,
                    content=case.content,
                    headers=headers,
                    params=list(case.params),
                )
            except httpx.HTTPError as exc:  # a dropped connection is a failure too
                failures.append(f"{case.label}: {type(exc).__name__}: {exc}")
                continue
            statuses[response.status_code] += 1
            text = response.text
            if response.status_code >= 500:
                failures.append(f"{case.label}: HTTP {response.status_code} {text[:200]}")
            if _has_traceback(text):
                failures.append(f"{case.label}: traceback in the body")
    after = _counts(served.client)
    print(
        f"\nHTTP corpus: {len(cases)} requests, statuses {dict(sorted(statuses.items()))}, "
        f"5xx {sum(n for s, n in statuses.items() if s >= 500)}, failures {len(failures)}, "
        f"runs/workflows/versions before {before} after {after}"
    )
    assert not failures, "\n".join(failures[:40])
    assert after == before, "a malformed request wrote rows"
    assert served.client.run(served.run_id) == record, "a malformed request edited the run"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("route", ["/api/v1/runs", "/api/v1/workflows", "/api/v1/validate"])
def test_bodies_over_the_limit_get_413_in_the_api_shape(served: Served, route: str) -> None:
    before = _counts(served.client)
    with httpx.Client(base_url=served.url, timeout=60) as http:
        announced = http.post(route, content=b"[" + b"1," * LIMIT + b"1]")
        streamed = http.post(route, content=_chunks(LIMIT * 4))  # chunked: no Content-Length
        form = http.post(
            f"/runs/{served.run_id}/edit",
            content=_chunks(LIMIT + 1),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        under = http.post(route, content=b'{"definition": 1}')
    for response in (announced, streamed, form):
        assert response.status_code == 413, response.text[:200]
        body = response.json()
        assert "too large" in body["errors"][0]["message"]
    assert under.status_code == 422  # under the limit: parsed and refused on its content
    assert _counts(served.client) == before


def test_a_non_utf8_form_is_a_400(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        response = http.post(
            f"/runs/{served.run_id}/edit",
            content=b"name=\xff\xfe",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400
        assert "UTF-8" in response.json()["errors"][0]["message"]
        ok = http.post(f"/runs/{served.run_id}/edit", data={"name": "caf\u00e9"})
        assert ok.status_code in (200, 303)
    assert served.client.run(served.run_id).name == "caf\u00e9"
