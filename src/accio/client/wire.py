"""The REST API's wire format as the client contract's records and errors (for
:class:`~accio.client.remote.RemoteClient`): JSON bodies back to records, API errors back to the
:class:`~accio.errors.AccioError` the local client would have raised, run definitions to
documents."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

import httpx

from accio.definitions.model import Range, RunDef, Single, Values
from accio.errors import (
    AccioError,
    DefinitionError,
    NotFoundError,
    PermissionDenied,
    Problem,
    RuntimeFailure,
    Severity,
    UsageError,
)
from accio.storage.records import (
    NodeRecord,
    NodeState,
    RunRecord,
    RunsFilter,
    RunState,
    WorkflowRecord,
)

_LOG_FLAG = {"e": "log", "2": "log2", "10": "log10"}


def quote_part(part: str) -> str:
    return quote(part, safe="")


def error(response: httpx.Response, file: str | None) -> AccioError:
    """An API error response as the AccioError the local client would have raised."""
    try:
        body = response.json()
        items = [i for i in body.get("errors", []) if isinstance(i, dict)]
        warnings = [i for i in body.get("warnings", []) if isinstance(i, dict)]
    except (ValueError, AttributeError):
        items, warnings = [], []
    messages = [str(i.get("message", "")) for i in items] or [response.reason_phrase]
    text = "; ".join(messages)
    status = response.status_code
    if status == 404:
        return NotFoundError(text)
    if status == 422:
        found = problems(items, file, "error") + problems(warnings, file, "warning")
        return DefinitionError(found or [Problem("", text, file)])
    if status == 400:
        return UsageError(text)
    if status == 409:
        return RuntimeFailure(text)
    if status in (401, 403):
        return PermissionDenied(text)
    return AccioError(f"the Accio server answered {status}: {text}")


def problems(
    items: Sequence[Mapping[str, Any]], file: str | None, severity: Severity
) -> list[Problem]:
    return [
        Problem(
            str(i.get("path") or ""),
            str(i.get("message", "")),
            i.get("file") or file,
            severity,
        )
        for i in items
    ]


def filter_params(f: RunsFilter) -> dict[str, Any]:
    if f.parent_id is None and not f.top_level_only:
        raise UsageError("not supported against a remote server: listing all runs with children")
    return {
        "workflow": f.workflow,
        "tag": list(f.tags) or None,
        "owner": f.owner,
        "state": list(f.states) or None,
        "q": f.text,
        "parent": f.parent_id,
    }


def typed_json(values: Mapping[str, Any] | None) -> str:
    typed = {k: {"type": v["type"], "value": v.get("value")} for k, v in (values or {}).items()}
    return json.dumps(typed, ensure_ascii=False, separators=(",", ":"))


def run_record(d: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        id=d["id"],
        parent_id=d.get("parent_id"),
        workflow_id=d["workflow_id"],
        workflow_version=d["workflow_version"],
        name=d.get("name"),
        notes=d.get("notes"),
        tags=tuple(d.get("tags", ())),
        owner=d["owner"],
        created=float(d["created"]),
        seed=int(d["seed"]),
        params=typed_json(d.get("params")),
        repeat_index=int(d["repeat_index"]),
        child_index=d.get("child_index"),
        state=cast(RunState, d["state"]),
        started=d.get("started"),
        completed=d.get("completed"),
        n_children=int(d["n_children"]),
        progress=float(d.get("progress", 0.0)),
    )


def node_record(d: Mapping[str, Any]) -> NodeRecord:
    error = d.get("error")
    outputs = d.get("outputs")
    return NodeRecord(
        run_id=d["run_id"],
        name=d["name"],
        op=d["op"],
        state=cast(NodeState, d["state"]),
        cache_key=d.get("cache_key"),
        seed=d.get("seed"),
        attempts=int(d.get("attempts", 0)),
        queued_at=d.get("queued_at"),
        started=d.get("started"),
        completed=d.get("completed"),
        error=None if error is None else json.dumps(error, ensure_ascii=False),
        outputs=typed_json(outputs) if outputs else None,
        cache_source=d.get("cache_source"),
        position=int(d.get("position", 0)),
        ran_on=d.get("ran_on") or "",
    )


def workflow_record(d: Mapping[str, Any], definition: Any) -> WorkflowRecord:
    return WorkflowRecord(
        id=d["id"],
        version=d["version"],
        definition=json.dumps(definition if definition is not None else {}, ensure_ascii=False),
        name=d.get("name"),
        owner=d.get("owner"),
        created=float(d["created"]),
        active=bool(d["active"]),
    )


def run_document(run: RunDef) -> tuple[dict[str, Any], dict[str, str]]:
    """A parsed run definition back as a document, and its command-line (text) parameters."""
    document: dict[str, Any] = {"workflow": run.workflow, "repeat": run.repeat}
    for key in ("name", "notes", "seed"):
        value = getattr(run, key)
        if value is not None:
            document[key] = value
    if run.tags:
        document["tags"] = list(run.tags)
    params: dict[str, Any] = {}
    text_params: dict[str, str] = {}
    for pname, form in run.params:
        if isinstance(form, Single):
            if form.from_text and isinstance(form.raw, str):
                text_params[pname] = form.raw
            else:
                params[pname] = {"value": form.raw} if form.wrapped else form.raw
        elif isinstance(form, Values):
            params[pname] = {"values": list(form.raws)}
        elif isinstance(form, Range):
            spec: dict[str, Any] = {"from": form.start, "to": form.stop}
            if form.step is not None:
                spec["step"] = form.step
            if form.log is not None:
                spec[_LOG_FLAG[form.log]] = True
            params[pname] = spec
    if params:
        document["params"] = params
    return document, text_params


__all__ = [
    "error",
    "filter_params",
    "node_record",
    "problems",
    "quote_part",
    "run_document",
    "run_record",
    "typed_json",
    "workflow_record",
]
