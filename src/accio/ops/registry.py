"""The operator registry: explicit operators plus plugins found through entry points.

A plugin declares, in its ``pyproject.toml``::

    [project.entry-points."accio.operators"]
    myplugin = "my_package.plugin:operators"

where the target is either a function returning operator classes or an operator class itself.
Nothing registers itself as a side effect of import.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points

from accio.config import read_plugins
from accio.errors import NotFoundError, RegistryError
from accio.ops.api import OperatorSpec, spec_of

ENTRY_POINT_GROUP = "accio.operators"
#: Extra ``module:attribute`` targets, comma-separated, loaded like entry points (no packaging).
PLUGINS_ENV = "ACCIO_PLUGINS"


class OperatorRegistry:
    """Operators by name; a duplicate name is an error that names both sources."""

    def __init__(self, operators: Iterable[type | OperatorSpec] = ()) -> None:
        self._specs: dict[str, OperatorSpec] = {}
        for op in operators:
            self.add(op if isinstance(op, OperatorSpec) else spec_of(op))

    def add(self, spec: OperatorSpec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.impl is not spec.impl:
            raise RegistryError(
                f"duplicate operator name {spec.name!r}: declared by {existing.source} "
                f"and by {spec.source}"
            )
        self._specs[spec.name] = spec

    @classmethod
    def from_entry_points(
        cls,
        group: str = ENTRY_POINT_GROUP,
        env: Mapping[str, str] | None = None,
        *,
        plugins: str | None = None,
    ) -> OperatorRegistry:
        """All operators of every installed plugin, plus the ``plugins`` targets
        (``Settings.plugins``; when not given, ``$ACCIO_PLUGINS`` of ``env`` or the process)."""
        registry = cls()
        found = sorted(entry_points(group=group), key=lambda e: e.name)
        extra = plugins if plugins is not None else read_plugins(env)
        for i, target in enumerate(t.strip() for t in extra.split(",") if t.strip()):
            found.append(EntryPoint(name=f"{PLUGINS_ENV}[{i}]", value=target, group=group))
        for ep in found:
            for op in _load_entry_point(ep):
                registry.add(spec_of(op))
        return registry

    def get(self, name: str) -> OperatorSpec | None:
        return self._specs.get(name)

    def require(self, name: str) -> OperatorSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise NotFoundError(f"unknown operator {name!r}{self.suggest(name)}")
        return spec

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._specs), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[OperatorSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.category, s.name)))

    def __len__(self) -> int:
        return len(self._specs)


def _load_entry_point(ep: EntryPoint) -> list[object]:
    try:
        target = ep.load()
    except Exception as exc:  # a broken plugin must name itself, not crash the CLI
        raise RegistryError(
            f"operator plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
        ) from exc
    if isinstance(target, type):
        return [target]
    if callable(target):
        try:
            result = target()
        except Exception as exc:
            raise RegistryError(f"operator plugin {ep.name!r} ({ep.value}) failed: {exc}") from exc
        return list(result)
    raise RegistryError(
        f"operator plugin {ep.name!r} ({ep.value}) must point at an operator class "
        "or a function returning operator classes"
    )


_defaults: dict[str, OperatorRegistry] = {}


def default_registry(plugins: str | None = None) -> OperatorRegistry:
    """The registry of installed plugins plus ``plugins`` (``Settings.plugins``), loaded once per
    process and plugin list. Callers that have no Settings get ``$ACCIO_PLUGINS``."""
    extra = plugins.strip() if plugins is not None else read_plugins()
    registry = _defaults.get(extra)
    if registry is None:
        registry = _defaults[extra] = OperatorRegistry.from_entry_points(plugins=extra)
    return registry
