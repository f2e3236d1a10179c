"""Terminal output: tables, JSON, messages. No logic lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from accio.errors import Problem

_out = Console(soft_wrap=True, highlight=False)


def console() -> Console:
    return _out


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False, box=None)
    for col in columns:
        table.add_column(col.upper(), overflow="fold")
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
