"""Collecting every problem of a definition at once, each with its JSON path."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from accio.definitions.limits import document_problems
from accio.errors import DefinitionError, Problem, Severity


def json_kind(value: Any) -> str:
    """How a JSON value is called in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def did_you_mean(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class Problems:
    """An accumulator of problems for one document; ``raise_if_errors`` ends validation."""

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.items: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.add(path, message, "error")

    def warning(self, path: str, message: str) -> None:
        self.add(path, message, "warning")

    def add(self, path: str, message: str, severity: Severity) -> None:
        self.items.append(Problem(path, message, self.file, severity))

    def extend(self, problems: list[Problem]) -> None:
        self.items.extend(p.in_file(self.file) for p in problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise DefinitionError(self.items)

    def check_document(self, document: Any) -> bool:
        """Invalid Unicode and excessive nesting, anywhere in the document: when found, nothing
        else should look at it (the database, the terminal or a recursive check would fail)."""
        clean = True
        for path, reason in document_problems(document):
            self.error(path, reason)
            clean = False
        return clean

    def check_object(self, value: Any, path: str, what: str) -> bool:
        if isinstance(value, dict):
            return True
        self.error(path, f"expected {what} (a JSON object), got {json_kind(value)}")
        return False

    def check_keys(self, obj: Mapping[str, Any], allowed: Collection[str], path: str) -> None:
        """Unknown keys are errors, so that a misspelt ``"tag"`` never loses metadata."""
        for key in obj:
            if key not in allowed:
                self.error(
                    field_path(path, key),
                    f"unknown key {key!r}{did_you_mean(key, allowed)}; "
                    f"allowed keys: {', '.join(sorted(allowed))}",
                )

    def optional_string(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None:
            if key in obj:
                self.error(field_path(path, key), "expected a string, got null")
            return None
        if not isinstance(value, str):
            self.error(field_path(path, key), f"expected a string, got {json_kind(value)}")
            return None
        return value
