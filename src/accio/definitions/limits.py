"""Limits every definition document is held to before anything else looks at it.

JSON can say things that Python code downstream cannot take: strings holding lone surrogates
(``"\\udcff"`` is valid JSON but not valid Unicode, so the database and the terminal refuse it
later, mid-submit) and nesting deep enough to exhaust the interpreter's stack. Both are found
here, up front and without recursion, and reported like any other problem: file, JSON path,
reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Deepest nesting accepted in a definition. A workflow needs about 5 levels plus the nesting of
#: its deepest constant, so 100 leaves room for any real value while keeping recursive code safe.
MAX_DEPTH = 100
#: A value nested too deeply is reported at the last key found within this many levels.
ANCHOR_DEPTH = 8


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped (``\\udcff``), safe to print or store."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` cannot be encoded as UTF-8 (it holds a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bad_text_message(text: str) -> str:
    """Why a string with a lone surrogate is refused, showing it escaped."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return (  # repr() shows a surrogate escaped, so the message itself is valid Unicode
        f"invalid text {shown!r}: it contains a lone surrogate, which is not valid Unicode "
        "(a broken \\u escape, or bytes that are not UTF-8)"
    )


def _key_path(prefix: str, key: str) -> str:
    key = printable(key)
    return f"{prefix}.{key}" if prefix else key


def document_problems(document: Any, max_depth: int = MAX_DEPTH) -> Iterator[tuple[str, str]]:
    """``(JSON path, reason)`` for each string (or key) that is not valid Unicode, and for the
    first place nested deeper than ``max_depth``; iterative, so any depth is safe to scan.

    Too deep a value is reported at the last object key on its way down (within the first
    :data:`ANCHOR_DEPTH` levels): the field that holds it, not a hundred ``[0]``.
    """
    # (value, its path, its depth, the path of the field reported if it is too deep)
    stack: list[tuple[Any, str, int, str]] = [(document, "", 1, "")]
    too_deep = False
    while stack:
        value, path, depth, anchor = stack.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                yield path, bad_text_message(value)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            if not too_deep:
                too_deep = True
                yield anchor, f"nested deeper than {max_depth} levels"
            continue
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if isinstance(key, str) and has_lone_surrogate(key):
                    yield _key_path(path, key), bad_text_message(key)
                    continue
                child = _key_path(path, str(key))
                stack.append((item, child, depth + 1, child if depth < ANCHOR_DEPTH else anchor))
        else:
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], f"{path}[{index}]", depth + 1, anchor))


def nesting_position(text: str, max_depth: int = MAX_DEPTH) -> tuple[int, int] | None:
    """Line and column (1-based) where JSON ``text`` first nests deeper than ``max_depth``,
    skipping brackets inside strings; None when it never does."""
    depth = 0
    in_string = False
    escaped = False
    line, column = 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return line, column
        elif char in "]}":
            depth -= 1
    return None
