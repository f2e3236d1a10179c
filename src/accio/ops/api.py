"""The operator contract: how an operator declares itself and what it is given to run.

An operator is a class decorated with :func:`operator`. It declares typed input and output ports as
attributes of two nested classes, ``Inputs`` and ``Outputs`` (declaration order is kept), and
implements ``run(self, inputs, ctx) -> dict``::

    @operator(category="lppm", unstable=True, cpus=4, memory="2G",
              help="Perturb every event with planar Laplace noise.")
    class GeoIndistinguishability:
        class Inputs:
            epsilon = Port("double", default=0.001, min=0, min_exclusive=True)
            data = Port("dataset")

        class Outputs:
            data = Port("dataset")

        def run(self, inputs, ctx):
            ...
            return {"data": table}

``inputs`` maps every input port to its typed value (``None`` for an optional port without value);
dataset inputs arrive as ``pyarrow.Table`` and dataset outputs are returned as ``pyarrow.Table``:
the engine stores them as content-addressed Parquet artifacts. ``ctx`` is an
:class:`accio.ops.context.OperatorContext`.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeVar

from accio.errors import RegistryError, ValueParseError
from accio.values.parse import parse_json
from accio.values.types import DataType, Distance, Duration, parse_type

OPERATOR_NAME_RE = re.compile(r"^[A-Z][a-zA-Z0-9_]+$")


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: Marker for a port without a default value.
NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Port:
    """A port as written in a declaration (type as text, default as JSON)."""

    type: str
    default: Any = NO_DEFAULT
    optional: bool = False
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    #: The value names a file or directory the operator reads (a ``string``, or a list or set
    #: of them): its content fingerprint joins the cache key, so editing the file re-runs it.
    file: bool = False


@dataclass(frozen=True)
class PortSpec:
    """A resolved port: parsed type, typed default, constraints."""

    name: str
    dtype: DataType
    default: Any = NO_DEFAULT
    optional: bool = False
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    file: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def required(self) -> bool:
        return not self.optional and not self.has_default

    def check(self, value: Any) -> str | None:
        """Why ``value`` violates this port's constraints, or None (decisions.md §14)."""
        if value is None:
            return None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            return f"must be one of {allowed}, got {value!r}"
        magnitude = _magnitude(value)
        if magnitude is None:
            return None
        if self.min is not None:
            if self.min_exclusive and not magnitude > self.min:
                return f"must be > {_fmt(self.min)}, got {_fmt(magnitude)}"
            if not self.min_exclusive and not magnitude >= self.min:
                return f"must be >= {_fmt(self.min)}, got {_fmt(magnitude)}"
        if self.max is not None:
            if self.max_exclusive and not magnitude < self.max:
                return f"must be < {_fmt(self.max)}, got {_fmt(magnitude)}"
            if not self.max_exclusive and not magnitude <= self.max:
                return f"must be <= {_fmt(self.max)}, got {_fmt(magnitude)}"
        return None

    def describe(self) -> dict[str, Any]:
        from accio.values.canonical import to_canonical

        return {
            "name": self.name,
            "type": str(self.dtype),
            "help": self.help,
            "optional": self.optional,
            "default": to_canonical(self.dtype, self.default) if self.has_default else None,
        }


def _magnitude(value: Any) -> float | None:
    """Numbers compare as themselves, distances in metres, durations in milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Distance):
        return value.meters
    if isinstance(value, Duration):
        return float(value.millis)
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Resources:
    """What one execution reserves: fractional cores, memory and scratch disk in MiB."""

    cpus: float = 1.0
    memory_mb: int = 512
    disk_mb: int = 1024


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([BKMGTPE]?)\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_size_mb(text: str | int) -> int:
    """``512M``, ``2G``, ``1.5G`` -> whole MiB, rounded up (operators.md §2)."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueParseError(f"invalid size {text!r}: expected <number>[B|K|M|G|T|P|E]")
    amount: float = float(match.group(1)) * 1024 ** _SIZE_POWERS[str(match.group(2)).upper()]
    return max(0, math.ceil(amount / 1024**2))


class OperatorContextLike(Protocol):
    """What ``run`` may rely on; see :class:`accio.ops.context.OperatorContext`."""

    @property
    def seed(self) -> int: ...


@dataclass(frozen=True)
class OperatorSpec:
    """Everything the engine knows about an operator; the registry's record."""

    name: str
    impl: type
    category: str = "misc"
    help: str = ""
    description: str = ""
    deprecation: str = ""
    unstable: bool = False
    resources: Resources = field(default_factory=Resources)
    version: str = "1"
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    source: str = ""

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    @cached_property
    def file_inputs(self) -> tuple[str, ...]:
        """Input ports declared ``file=True``: their files are fingerprinted into the key."""
        return tuple(p.name for p in self.inputs if p.file)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    @cached_property
    def code_hash(self) -> str:
        """SHA-256 of the operator class's body, so that editing the code invalidates caches.

        The decorator and the ``class`` line are left out: bumping ``version`` or renaming the
        class is not a code change (``explain`` then names exactly what changed).
        """
        try:
            lines = inspect.getsource(self.impl).splitlines()
        except (OSError, TypeError):
            lines = [f"{self.impl.__module__}.{self.impl.__qualname__}"]
        header = next(
            (i for i, line in enumerate(lines) if line.lstrip().startswith("class ")), -1
        )
        body = "\n".join(lines[header + 1 :])
        return hashlib.sha256(body.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "help": self.help,
            "description": self.description,
            "deprecation": self.deprecation,
            "unstable": self.unstable,
            "version": self.version,
            "resources": {
                "cpus": self.resources.cpus,
                "memory_mb": self.resources.memory_mb,
                "disk_mb": self.resources.disk_mb,
            },
            "inputs": [p.describe() for p in self.inputs],
            "outputs": [
                {"name": p.name, "type": str(p.dtype), "help": p.help} for p in self.outputs
            ],
            "source": self.source,
        }

    def instantiate(self) -> Any:
        return self.impl()


SPEC_ATTRIBUTE = "__accio_operator__"
C = TypeVar("C", bound=type)


def operator(
    name: str | None = None,
    *,
    category: str = "misc",
    help: str = "",
    description: str = "",
    deprecation: str = "",
    unstable: bool = False,
    cpus: float = 1.0,
    memory: str | int = "512M",
    disk: str | int = "1G",
    version: str = "1",
) -> Callable[[C], C]:
    """Declare a class as an operator; the declaration is checked at once."""

    def decorate(cls: C) -> C:
        op_name = name or (cls.__name__[:-2] if cls.__name__.endswith("Op") else cls.__name__)
        where = f"operator {op_name} ({cls.__module__}.{cls.__qualname__})"
        if not OPERATOR_NAME_RE.match(op_name):
            raise RegistryError(f"{where}: name must match [A-Z][a-zA-Z0-9_]+")
        if not callable(getattr(cls, "run", None)):
            raise RegistryError(f"{where}: missing run(self, inputs, ctx) method")
        try:
            resources = Resources(float(cpus), parse_size_mb(memory), parse_size_mb(disk))
        except ValueParseError as exc:
            raise RegistryError(f"{where}: {exc}") from None
        spec = OperatorSpec(
            name=op_name,
            impl=cls,
            category=category,
            help=help,
            description=description,
            deprecation=deprecation,
            unstable=unstable,
            resources=resources,
            version=str(version),
            inputs=_ports(getattr(cls, "Inputs", None), where, outputs=False),
            outputs=_ports(getattr(cls, "Outputs", None), where, outputs=True),
            source=f"{cls.__module__}.{cls.__qualname__}",
        )
        setattr(cls, SPEC_ATTRIBUTE, spec)
        return cls

    return decorate


def _ports(holder: type | None, where: str, *, outputs: bool) -> tuple[PortSpec, ...]:
    if holder is None:
        return ()
    specs: list[PortSpec] = []
    for attr, port in vars(holder).items():
        if not isinstance(port, Port):
            continue
        at = f"{where}: {'output' if outputs else 'input'} {attr!r}"
        try:
            dtype = parse_type(port.type)
        except ValueParseError as exc:
            raise RegistryError(f"{at}: {exc}") from None
        if outputs and (port.default is not NO_DEFAULT or port.optional):
            raise RegistryError(f"{at}: outputs have neither defaults nor optionality")
        if port.optional and port.default is not NO_DEFAULT:
            raise RegistryError(f"{at}: a port cannot be both optional and defaulted")
        if port.file and (outputs or not _names_paths(dtype)):
            raise RegistryError(
                f"{at}: file=True is for inputs of type string, list(string) or set(string)"
            )
        default = NO_DEFAULT
        if port.default is not NO_DEFAULT:
            try:
                default = parse_json(dtype, port.default)
            except ValueParseError as exc:
                raise RegistryError(f"{at}: invalid default: {exc}") from None
        choices = None
        if port.choices is not None:
            try:
                choices = tuple(parse_json(dtype, c) for c in port.choices)
            except ValueParseError as exc:
                raise RegistryError(f"{at}: invalid choice: {exc}") from None
        spec = PortSpec(
            attr,
            dtype,
            default,
            port.optional,
            port.help,
            port.min,
            port.max,
            port.min_exclusive,
            port.max_exclusive,
            choices,
            port.file,
        )
        if spec.has_default and (reason := spec.check(spec.default)):
            raise RegistryError(f"{at}: default {reason}")
        specs.append(spec)
    return tuple(specs)


def _names_paths(dtype: DataType) -> bool:
    if dtype.base == "string":
        return True
    return dtype.base in ("list", "set") and dtype.args[0].base == "string"


def spec_of(obj: Any) -> OperatorSpec:
    """The declaration attached to an operator class by :func:`operator`."""
    spec = getattr(obj, SPEC_ATTRIBUTE, None)
    if not isinstance(spec, OperatorSpec):
        raise RegistryError(f"{obj!r} is not an operator (decorate it with @operator)")
    return spec


def specs_of(objs: Sequence[Any] | Mapping[str, Any]) -> list[OperatorSpec]:
    items = objs.values() if isinstance(objs, Mapping) else objs
    return [spec_of(o) for o in items]
