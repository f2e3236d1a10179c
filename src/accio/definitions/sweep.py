"""Expansion of a resolved run into its children: lazy, indexable, deterministic.

Order (decisions.md §7): parameters in run-definition order, the first varying slowest, values in
expansion order, repeats adjacent (c1, c1, c2, c2, ...). Child ``i`` is computed from ``i`` alone
(mixed-radix decoding), so counting a 10^12-child sweep costs nothing and any slice can be built
without the ones before it.

Names (decisions.md §8): ``name=value`` for each parameter with more than one value, values
rendered canonically and cut after the last ``/`` (keeping more trailing parts when two values
would otherwise look the same); with ``repeat`` > 1 a ``#k`` suffix (1-based) keeps repeats
distinguishable.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from accio.seeds import MASK_63, child_seed_prefix
from accio.values.canonical import canonical_json
from accio.values.render import render
from accio.values.types import DataType

if TYPE_CHECKING:
    from accio.definitions.model import RunDef, Workflow
    from accio.errors import Problem


def short_labels(rendered: list[str]) -> list[str]:
    """The text after the last ``/`` of each value, or as many trailing path parts as it takes
    to tell the values apart (``/data/a/x`` and ``/data/b/x`` give ``a/x`` and ``b/x``)."""
    parts = [r.split("/") for r in rendered]
    depth = 1
    while True:
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(set(rendered)) or depth >= max(len(p) for p in parts):
            return labels
        depth += 1


@dataclass(frozen=True)
class Axis:
    """One parameter's values, with their pre-computed canonical encodings and name labels."""

    name: str
    dtype: DataType
    values: tuple[Any, ...]
    encoded: tuple[str, ...]
    labels: tuple[str, ...]

    @classmethod
    def build(cls, name: str, dtype: DataType, values: tuple[Any, ...]) -> Axis:
        key = json.dumps(name, ensure_ascii=False)
        encoded = tuple(f"{key}:{canonical_json(dtype, v)}" for v in values)
        labels = tuple(f"{name}={s}" for s in short_labels([render(dtype, v) for v in values]))
        return cls(name, dtype, values, encoded, labels)

    def __len__(self) -> int:
        return len(self.values)


class Child(NamedTuple):
    """One child run of a sweep (or the single run, when there is one combination)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    name: str | None
    params: Mapping[str, Any]  # read-only; shared by the repeats of one combination
    repeat_index: int
    seed: int


@dataclass(frozen=True)
class Sweep:
    """A run definition resolved against its workflow: the lazy sequence of its children."""

    workflow: Workflow
    axes: tuple[Axis, ...]
    defaults: Mapping[str, Any]
    repeat: int
    run_seed: int
    seed_given: bool
    run: RunDef
    warnings: tuple[Problem, ...] = ()
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _Plan.build(self))

    @property
    def combinations(self) -> int:
        n = 1
        for axis in self.axes:
            n *= len(axis)
        return n

    def __len__(self) -> int:
        return self._plan.size

    @property
    def is_single(self) -> bool:
        """Exactly one child: a single run, not a parent with children (definitions.md §9.7)."""
        return self._plan.size == 1

    @property
    def discriminants(self) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if len(a) > 1)

    def param_types(self) -> dict[str, DataType]:
        types = {a.name: a.dtype for a in self.axes}
        for p in self.workflow.params:
            if p.name in self.defaults:
                types[p.name] = p.kind
        return types

    def __getitem__(self, index: int) -> Child:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"child {index} out of range (sweep has {n})")
        return self._plan.child(index)

    def __iter__(self) -> Iterator[Child]:
        return self.children()

    def children(self, start: int = 0, stop: int | None = None) -> Iterator[Child]:
        """Children ``start`` to ``stop`` (exclusive), built incrementally."""
        end = len(self) if stop is None else min(stop, len(self))
        return self._plan.iterate(max(0, start), end)

    def seeds(self) -> Iterator[int]:
        """Just the child seeds, in child order."""
        return (child.seed for child in self.children())


@dataclass(frozen=True)
class _Plan:
    """Precomputed pieces so that building a child is a few joins and one SHA-256."""

    sweep: Sweep
    size: int
    radices: tuple[int, ...]
    # Sorted-by-name encoding slots: either a fixed "name":json text or an axis position.
    slots: tuple[str | int, ...]
    discriminant_positions: tuple[int, ...]

    @classmethod
    def build(cls, sweep: Sweep) -> _Plan:
        fixed = {
            name: f"{json.dumps(name, ensure_ascii=False)}:{canonical_json(_kind(sweep, name), value)}"
            for name, value in sweep.defaults.items()
        }
        positions = {axis.name: i for i, axis in enumerate(sweep.axes)}
        slots: list[str | int] = []
        for name in sorted([*fixed, *positions]):
            slots.append(positions[name] if name in positions else fixed[name])
        radices = tuple(len(a) for a in sweep.axes)
        return cls(
            sweep,
            math.prod(radices) * sweep.repeat,
            radices,
            tuple(slots),
            tuple(i for i, a in enumerate(sweep.axes) if len(a) > 1),
        )

    def digits(self, combination: int) -> tuple[int, ...]:
        digits = [0] * len(self.radices)
        for pos in range(len(self.radices) - 1, -1, -1):
            combination, digits[pos] = divmod(combination, self.radices[pos])
        return tuple(digits)

    def child(self, index: int) -> Child:
        combination, repeat_index = divmod(index, self.sweep.repeat)
        start = combination * self.sweep.repeat
        children = self._combination(
            self.digits(combination), start, repeat_index, repeat_index + 1
        )
        return next(children)

    def iterate(self, start: int, stop: int) -> Iterator[Child]:
        """Children in order; each combination's params, name and encoding are built once."""
        repeat = self.sweep.repeat
        if start >= stop:
            return
        first, offset = divmod(start, repeat)
        combos = itertools.islice(
            itertools.product(*(range(r) for r in self.radices)), first, None
        )
        index = first * repeat
        for digits in combos:
            if index >= stop:
                return
            yield from self._combination(digits, index, offset, min(repeat, stop - index))
            index += repeat
            offset = 0

    def _combination(
        self, digits: tuple[int, ...], base: int, first_repeat: int, end_repeat: int
    ) -> Iterator[Child]:
        sweep = self.sweep
        axes = sweep.axes
        params: dict[str, Any] = {a.name: a.values[d] for a, d in zip(axes, digits, strict=True)}
        params.update(sweep.defaults)
        frozen = MappingProxyType(params)
        parts = [s if isinstance(s, str) else axes[s].encoded[digits[s]] for s in self.slots]
        encoded = "{" + ",".join(parts) + "}"
        label = " ".join(axes[p].labels[digits[p]] for p in self.discriminant_positions)
        single = self.size == 1
        many = sweep.repeat > 1
        prefix = child_seed_prefix(sweep.run_seed) + encoded
        sha256 = hashlib.sha256
        for r in range(first_repeat, end_repeat):
            if single:
                name = None
            elif many:
                name = f"{label} #{r + 1}" if label else f"#{r + 1}"
            else:
                name = label
            digest = sha256(f"{prefix},{r}]".encode()).digest()
            yield Child(base + r, name, frozen, r, int.from_bytes(digest[:8], "big") & MASK_63)


def _kind(sweep: Sweep, name: str) -> DataType:
    param = sweep.workflow.param(name)
    assert param is not None, name
    return param.kind
