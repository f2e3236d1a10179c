"""Reading definition files: the only I/O of the definitions package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from accio.definitions.limits import MAX_DEPTH, nesting_position
from accio.errors import DefinitionError, Problem

DefinitionKind = Literal["workflow", "run"]


def parse_json_text(text: str, file: str | None) -> Any:
    """JSON text -> value; a syntax error names the line and column."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            [Problem("", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file)]
        ) from None
    except ValueError as exc:
        raise DefinitionError([Problem("", f"invalid JSON: {exc}", file)]) from None
    except RecursionError:
        # Deeper than the interpreter's stack; the document checks refuse more than MAX_DEPTH
        # anyway, so say where that limit is first crossed.
        where = nesting_position(text)
        at = f" at line {where[0]} column {where[1]}" if where else ""
        raise DefinitionError(
            [Problem("", f"invalid JSON{at}: nested deeper than {MAX_DEPTH} levels", file)]
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json_file(path: str | Path) -> Any:
    """Read and decode a definition file; unreadable files are definition errors (exit 2)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem("", "file not found", file)]) from None
    except IsADirectoryError:
        raise DefinitionError(
            [Problem("", "is a directory, not a definition file", file)]
        ) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem("", _not_utf8(path, exc), file)]) from None
    except OSError as exc:
        raise DefinitionError([Problem("", f"cannot read file: {exc}", file)]) from None
    return parse_json_text(text, file)


def _not_utf8(path: str | Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 is, by line and column (definitions are UTF-8)."""
    head = exc.object[: exc.start]
    line = head.count(b"\n") + 1
    column = exc.start - (head.rfind(b"\n") + 1) + 1
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"cannot read file: not UTF-8 text (byte 0x{byte} at line {line} column {column})"


RUN_ONLY_KEYS = frozenset({"workflow", "seed", "repeat", "tags", "notes"})


def definition_kind(document: Any) -> DefinitionKind:
    """Run or workflow? A ``workflow`` key, run-only keys or object ``params`` without ``graph``
    make a run definition (cli.md, proposed; a run that forgot ``workflow`` is still a run)."""
    if not isinstance(document, dict):
        return "run" if isinstance(document, str) else "workflow"
    if "workflow" in document:
        return "run"
    if "graph" in document:
        return "workflow"
    if RUN_ONLY_KEYS & set(document) or isinstance(document.get("params"), dict):
        return "run"
    return "workflow"


def workflow_id_from_path(path: str | Path) -> str:
    """A workflow without ``id`` takes its file name, without the extension (definitions.md §2)."""
    name = Path(path).name
    return name.rsplit(".", 1)[0] if "." in name else name


def split_workflow_spec(spec: str) -> tuple[str, str | None]:
    """``id`` or ``id:version``."""
    wf_id, _, version = spec.partition(":")
    return wf_id, (version or None)


def workflow_file_beside(run_file: str | Path, workflow_spec: str) -> Path | None:
    """The ``<workflow id>.json`` next to a run file, the fallback when nothing is pushed."""
    wf_id, _ = split_workflow_spec(workflow_spec)
    candidate = Path(run_file).resolve().parent / f"{wf_id}.json"
    return candidate if candidate.is_file() else None
