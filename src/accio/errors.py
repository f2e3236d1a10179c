"""Errors users can see, and the exit code each maps to.

The tree::

    AccioError                       exit 5 unless a subclass says otherwise
    ├── UsageError                   exit 1: bad command line, unknown command or flag
    ├── NotFoundError                exit 1: unknown run, workflow, operator, node
    ├── DefinitionError              exit 2: invalid workflow or run definition; carries Problems
    ├── ValueParseError              exit 2: a value that does not parse as its type
    ├── RegistryError                exit 5: broken operator plugin (duplicate name, bad declaration)
    └── RuntimeFailure               exit 4: a declared runtime failure (run failed, storage refused)

A definition is refused (exit 2, with its file and JSON path) not only for what it says but for
what could not be processed safely: JSON nested deeper than 100 levels, text that is not valid
Unicode (lone surrogates, bytes that are not UTF-8), and a sweep with more children than
``Settings.max_children`` (counted before anything is expanded). A command-line integer beyond
64 bits is a usage error (exit 1).

Every error raised on purpose is an ``AccioError``. The CLI and the server catch that base class and
print one line per problem; only ``--debug`` shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

#: Exit codes of the command-line client (spec/cli.md §1).
EXIT_OK = 0
EXIT_USAGE = 1
EXIT_DEFINITION = 2
EXIT_DENIED = 3
EXIT_RUNTIME = 4
EXIT_INTERNAL = 5

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a definition: where it is (file + JSON path) and what is wrong."""

    path: str
    message: str
    file: str | None = None
    severity: Severity = "error"

    def render(self) -> str:
        where = ": ".join(part for part in (self.file, self.path) if part)
        return f"{where}: {self.message}" if where else self.message

    def in_file(self, file: str | None) -> Problem:
        return Problem(self.path, self.message, file, self.severity)

    def under(self, prefix: str) -> Problem:
        """The same problem, its path nested under ``prefix`` (``params.eps`` + ``from``)."""
        path = join_path(prefix, self.path)
        return Problem(path, self.message, self.file, self.severity)


def join_path(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


class AccioError(Exception):
    """Base of every error Accio raises on purpose."""

    exit_code: int = EXIT_INTERNAL

    def lines(self) -> list[str]:
        return [str(self)]


class UsageError(AccioError):
    """The command line is wrong: unknown command, flag or a malformed argument."""

    exit_code = EXIT_USAGE


class NotFoundError(AccioError):
    """A run, workflow, node or operator that does not exist."""

    exit_code = EXIT_USAGE


class ValueParseError(AccioError):
    """A value does not parse as its declared type; the message says what was expected."""

    exit_code = EXIT_DEFINITION


class RegistryError(AccioError):
    """An operator plugin is broken: duplicate name, invalid declaration, import failure."""

    exit_code = EXIT_INTERNAL


class PermissionDenied(AccioError):
    """Not signed in, or signed in as a user who may not do this (the server's 401 and 403)."""

    exit_code = EXIT_DENIED


class RuntimeFailure(AccioError):
    """A declared failure at run time (a failed run followed with --wait, a refused write)."""

    exit_code = EXIT_RUNTIME


class DefinitionError(AccioError):
    """A workflow or run definition is invalid; carries every problem found, not only the first."""

    exit_code = EXIT_DEFINITION

    def __init__(self, problems: Iterable[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(p.render() for p in self.errors) or "invalid definition")

    @property
    def errors(self) -> Sequence[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def lines(self) -> list[str]:
        return [p.render() for p in self.errors]
