"""Terminal output: tables, JSON, messages. No logic lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from accio.errors import Problem

# Piped output is read by scripts and people with wide windows: do not fold it at 80 columns.
_out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 240)


def console() -> Console:
    return _out


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False, box=None)
    for col in columns:
        table.add_column(col.upper(), no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _out.print(table)


def print_line(text: str = "") -> None:
    _out.print(text, markup=False)


def warn(problems: Iterable[Problem]) -> None:
    for p in problems:
        print(f"WARNING: {p.render()}", file=sys.stderr)


def error(lines: Iterable[str]) -> None:
    for line in lines:
        print(f"ERROR: {line}", file=sys.stderr)


def info(text: str) -> None:
    print(f"INFO: {text}", file=sys.stderr)


# -- helpers for run and workflow listings (appended for commands/runs.py) -------------------


def relative_time(ts: float | None, now: float | None = None) -> str:
    """``3 minutes ago``: how listings show creation times (cli.md: CREATED)."""
    import time

    if ts is None:
        return "-"
    delta = (time.time() if now is None else now) - ts
    if delta < 0:
        return "in the future"
    if delta < 45:
        return "just now"
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= seconds:
            n = int(delta // seconds)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "1 minute ago"


def format_time(ts: float | None) -> str:
    """Local wall-clock time with its relative age, or ``-`` when unknown."""
    import datetime as _dt

    if ts is None:
        return "-"
    moment = _dt.datetime.fromtimestamp(ts).astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S %Z} ({relative_time(ts)})"


def format_duration(seconds: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``: short and unambiguous."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_bytes(n: int) -> str:
    """Human-readable size with binary prefixes."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def print_fields(fields: Iterable[tuple[str, Any]], width: int = 15) -> None:
    """``Label          value`` lines, labels padded to ``width`` (cli.md: describe)."""
    for label, value in fields:
        print_line(f"{label:<{width}}{'' if value is None else value}")
