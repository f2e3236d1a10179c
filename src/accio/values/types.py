"""Data types of ports and parameters, and the immutable Python values that carry them.

A value's Python form, by type:

=============  =====================================================
byte/integer/  ``int`` (range-checked to 8, 32, 64 bits)
long
double         ``float`` (finite)
string         ``str``
boolean        ``bool``
distance       :class:`Distance` (metres, float)
duration       :class:`Duration` (milliseconds, int)
timestamp      :class:`Timestamp` (epoch milliseconds, UTC, int)
location       :class:`Location` (degrees)
dataset        :class:`Dataset` (digest of a content-addressed artifact, or a URI)
list(T)        ``tuple``
set(T)         ``frozenset``
map(K, V)      :class:`FrozenMap`
=============  =====================================================

Every value is hashable, so sweep children and cache keys can be compared and deduplicated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from accio.errors import ValueParseError

INTEGER_TYPES: dict[str, tuple[int, int]] = {
    "byte": (-(2**7), 2**7 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
ATOMIC_TYPES: tuple[str, ...] = (
    "byte",
    "integer",
    "long",
    "double",
    "string",
    "boolean",
    "location",
    "timestamp",
    "duration",
    "distance",
    "dataset",
)
COLLECTION_TYPES: dict[str, int] = {"list": 1, "set": 1, "map": 2}
NUMERIC_BASES = frozenset({"byte", "integer", "long", "double", "distance", "duration"})


@dataclass(frozen=True, slots=True)
class DataType:
    """A type such as ``double`` or ``map(string, double)``; compared by exact equality."""

    base: str
    args: tuple[DataType, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.base
        return f"{self.base}({', '.join(str(a) for a in self.args)})"

    def __repr__(self) -> str:
        return f"DataType({str(self)!r})"

    @property
    def is_collection(self) -> bool:
        return self.base in COLLECTION_TYPES

    @property
    def is_numeric(self) -> bool:
        """Numeric in the sense of export filters and plots (types.md §1)."""
        if self.base in NUMERIC_BASES:
            return True
        if self.base in ("list", "set"):
            return self.args[0].base in NUMERIC_BASES
        if self.base == "map":
            return self.args[1].base in NUMERIC_BASES
        return False


_TYPE_RE = re.compile(r"^\s*([A-Za-z]+)\s*(?:\(\s*(.*?)\s*\))?\s*$", re.DOTALL)


def parse_type(text: str) -> DataType:
    """Parse a type string (case-insensitive, whitespace-tolerant); collections cannot nest."""
    if not isinstance(text, str):
        raise ValueParseError(
            f"expected a type name such as 'double' or 'list(string)', got {text!r}"
        )
    match = _TYPE_RE.match(text)
    if not match:
        raise ValueParseError(f"invalid data type {text!r}")
    base = match.group(1).lower()
    inner = match.group(2)
    if inner is None:
        if base in ATOMIC_TYPES:
            return DataType(base)
        if base in COLLECTION_TYPES:
            raise ValueParseError(f"invalid data type {text!r}: {base} needs element types")
        raise ValueParseError(
            f"invalid data type {text!r}: unknown type {base!r} "
            f"(expected one of {', '.join(ATOMIC_TYPES)}, list(T), set(T), map(K, V))"
        )
    if base not in COLLECTION_TYPES:
        raise ValueParseError(f"invalid data type {text!r}: {base!r} takes no arguments")
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) != COLLECTION_TYPES[base]:
        raise ValueParseError(
            f"invalid data type {text!r}: {base} takes {COLLECTION_TYPES[base]} type argument(s)"
        )
    args = []
    for part in parts:
        low = part.lower()
        if low not in ATOMIC_TYPES:
            raise ValueParseError(
                f"invalid data type {text!r}: {part!r} is not an atomic type "
                "(collections cannot be nested)"
            )
        args.append(DataType(low))
    return DataType(base, tuple(args))


def T(text: str) -> DataType:  # a short constructor name reads like a literal
    """Shorthand for :func:`parse_type`, for declarations and tests."""
    return parse_type(text)


@dataclass(frozen=True, slots=True, order=True)
class Distance:
    """A length in metres."""

    meters: float


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A signed time span in whole milliseconds."""

    millis: int


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """An instant, epoch milliseconds, UTC."""

    millis: int


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A WGS84 point in decimal degrees."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True, order=True)
class Dataset:
    """A dataset value: the digest of a content-addressed artifact (or an external URI)."""

    ref: str


class FrozenMap(Mapping[Any, Any]):
    """An immutable, hashable mapping with a deterministic (sorted) iteration order."""

    __slots__ = ("_items", "_lookup")

    def __init__(self, items: Mapping[Any, Any] | None = None) -> None:
        data = dict(items or {})
        self._items: tuple[tuple[Any, Any], ...] = tuple(
            sorted(data.items(), key=lambda kv: repr(kv[0]))
        )
        self._lookup = data

    def __getitem__(self, key: Any) -> Any:
        return self._lookup[key]

    def __iter__(self) -> Iterator[Any]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        # Order-free, like dict equality: keys that are equal but print differently (0.0 and
        # -0.0, 1 and 1.0) sort differently by repr, yet the maps must stay equal and hash alike.
        return hash(frozenset(self._items))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._lookup == other._lookup
        if isinstance(other, Mapping):
            return self._lookup == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self._items)!r})"
