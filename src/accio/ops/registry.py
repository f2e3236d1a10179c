"""The operator registry: explicit operators plus plugins found through entry points.

A plugin declares, in its ``pyproject.toml``::

    [project.entry-points."accio.operators"]
    myplugin = "my_package.plugin:operators"

where the target is either a function returning operator classes or an operator class itself.
Nothing registers itself as a side effect of import.

A registry built from plugins can :meth:`~OperatorRegistry.refresh` itself: a long-lived
process (the scheduler, a worker forked from a fork server that imported plugins long ago)
re-imports the plugins whose source files changed on disk, retries those that failed to load and
picks up newly installed ones, so that edited operator code runs without a restart.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import linecache
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points

from accio.config import read_plugins
from accio.errors import NotFoundError, RegistryError
from accio.ops.api import OperatorSpec, spec_of

ENTRY_POINT_GROUP = "accio.operators"
#: Extra ``module:attribute`` targets, comma-separated, loaded like entry points (no packaging).
PLUGINS_ENV = "ACCIO_PLUGINS"

log = logging.getLogger("accio.registry")

#: Source file of each plugin module as it was when first imported here: (path, mtime_ns, size).
#: Process-wide, and inherited by forked workers, which thus see what changed since their
#: fork server imported the plugins.
_stamps: dict[str, tuple[str, int, int]] = {}
#: Plugin load errors already logged by this process.
_reported: set[str] = set()


class OperatorRegistry:
    """Operators by name; a duplicate name is an error that names both sources.

    ``load_errors`` maps each plugin target that could not be loaded to its reason (kept, so
    that a node of an operator it would have declared fails with that reason).
    """

    def __init__(self, operators: Iterable[type | OperatorSpec] = ()) -> None:
        self._specs: dict[str, OperatorSpec] = {}
        self.load_errors: dict[str, str] = {}
        self._group: str | None = None  # set when built from plugins: refresh() can reload
        self._plugins = ""
        self._loaded: frozenset[tuple[str, str]] = frozenset()  # (name, target) loaded
        self._modules: frozenset[str] = frozenset()  # modules watched for changes
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
        strict: bool = True,
    ) -> OperatorRegistry:
        """All operators of every installed plugin, plus the ``plugins`` targets
        (``Settings.plugins``; when not given, ``$ACCIO_PLUGINS`` of ``env`` or the process).

        ``strict`` raises on a broken plugin; otherwise its error is logged and kept in
        ``load_errors``, and the other plugins' operators are usable.
        """
        registry = cls()
        registry._group = group
        registry._plugins = plugins if plugins is not None else read_plugins(env)
        registry._load(registry._entry_points(), strict=strict)
        return registry

    def _entry_points(self) -> list[EntryPoint]:
        assert self._group is not None
        found = sorted(entry_points(group=self._group), key=lambda e: e.name)
        targets = (t.strip() for t in self._plugins.split(",") if t.strip())
        for i, target in enumerate(targets):
            found.append(EntryPoint(name=f"{PLUGINS_ENV}[{i}]", value=target, group=self._group))
        return found

    def _load(self, found: list[EntryPoint], *, strict: bool) -> None:
        """Build the operators from scratch and swap them in at once (readers in other threads
        see the old set or the new one, never half of it)."""
        specs: dict[str, OperatorSpec] = {}
        errors: dict[str, str] = {}
        modules: set[str] = set()
        for ep in found:
            try:
                loaded = [spec_of(op) for op in _load_entry_point(ep)]
                for spec in loaded:
                    existing = specs.get(spec.name)
                    if existing is not None and existing.impl is not spec.impl:
                        raise RegistryError(
                            f"duplicate operator name {spec.name!r}: declared by "
                            f"{existing.source} and by {spec.source}"
                        )
            except RegistryError as exc:
                if strict:
                    raise
                errors[ep.value] = str(exc)
                if str(exc) not in _reported:  # retried at every refresh: said once
                    _reported.add(str(exc))
                    log.warning("%s", exc)
                continue
            for spec in loaded:
                specs[spec.name] = spec
            modules.update(_plugin_modules(ep.module, (s.impl.__module__ for s in loaded)))
        for name in modules:
            _stamp(name)
        self._specs, self.load_errors = specs, errors
        self._loaded = frozenset((ep.name, ep.value) for ep in found)
        self._modules = frozenset(modules)

    def refresh(self) -> bool:
        """Re-import plugins whose source changed on disk, retry those that failed to load, and
        load newly installed ones. True when operator code may have changed: plans built on the
        old operators must be rebuilt and workers that imported the old code replaced.

        Cheap when nothing changed: one ``stat`` per plugin module and an entry point scan.
        """
        if self._group is None:
            return False
        found = self._entry_points()
        stale = sorted(m for m in self._modules if is_stale(m))
        if not stale and not self.load_errors and _pairs(found) == self._loaded:
            return False
        before = {s.name: s.impl for s in self._specs.values()}
        importlib.invalidate_caches()  # modules created since the last import are found
        for name in _purgeable(stale):
            _forget(name)
        self._load(found, strict=False)
        after = {s.name: s.impl for s in self._specs.values()}
        replaced = sorted(n for n in after if before.get(n) is not after[n])
        if stale or replaced or before.keys() != after.keys():
            log.info(
                "plugins reloaded (changed: %s); operators reloaded: %s",
                ", ".join(stale) or "none",
                ", ".join(replaced) or "none",
            )
            return True
        return False

    def get(self, name: str) -> OperatorSpec | None:
        return self._specs.get(name)

    def require(self, name: str) -> OperatorSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise NotFoundError(f"unknown operator {name!r}{self.suggest(name)}{self.broken()}")
        return spec

    def broken(self) -> str:
        """Why some operators may be missing: the plugins that failed to load, as a clause."""
        if not self.load_errors:
            return ""
        return "; " + "; ".join(self.load_errors.values())

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


def _pairs(found: list[EntryPoint]) -> frozenset[tuple[str, str]]:
    return frozenset((ep.name, ep.value) for ep in found)


def _plugin_modules(entry: str, others: Iterable[str]) -> set[str]:
    """The modules a plugin's code lives in: every imported module of its top-level packages
    (helpers included), but only the named modules inside Accio itself."""
    roots = {entry, *others}
    tops = {r.partition(".")[0] for r in roots} - {"accio"}
    return roots | {m for m in list(sys.modules) if m.partition(".")[0] in tops}


def _source_stat(name: str) -> tuple[str, int, int] | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return None  # built-in, namespace package or compiled extension: not reloadable
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _stamp(name: str) -> None:
    if name not in _stamps:
        stat = _source_stat(name)
        if stat is not None:
            _stamps[name] = stat


def is_stale(name: str) -> bool:
    """Whether module ``name``'s source changed on disk since it was imported (its code, as
    read now, is not the code this process runs)."""
    known = _stamps.get(name)
    return known is not None and _source_stat(name) != known


def _purgeable(stale: list[str]) -> set[str]:
    """What to forget so that a fresh import sees edited code: every module of the stale
    modules' top-level packages (a helper imported with ``from x import f`` would otherwise
    keep the old ``f``), but only the stale modules themselves inside Accio."""
    tops = {s.partition(".")[0] for s in stale} - {"accio"}
    return set(stale) | {m for m in list(sys.modules) if m.partition(".")[0] in tops}


def _forget(name: str) -> None:
    """Drop a module, its bytecode cache and its cached lines: an edit within the same second
    that keeps the file's size would otherwise be served from the old ``.pyc``."""
    module = sys.modules.pop(name, None)
    _stamps.pop(name, None)
    path = getattr(module, "__file__", None)
    if path and path.endswith(".py"):
        linecache.cache.pop(path, None)  # its stat may look unchanged: the code hash reads it
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            os.unlink(importlib.util.cache_from_source(path))


_defaults: dict[str, OperatorRegistry] = {}


def refresh_defaults() -> bool:
    """Re-import the changed plugins of every registry :func:`default_registry` made in this
    process (a long-lived worker told that operator code changed). True when any changed."""
    changed = False
    for registry in list(_defaults.values()):
        changed = registry.refresh() or changed
    return changed


def default_registry(plugins: str | None = None) -> OperatorRegistry:
    """The registry of installed plugins plus ``plugins`` (``Settings.plugins``), loaded once per
    process and plugin list. Callers that have no Settings get ``$ACCIO_PLUGINS``.

    A plugin that fails to load is logged and named in ``load_errors``, not raised: the other
    operators stay usable, and a node of a missing operator fails with that reason.
    """
    extra = plugins.strip() if plugins is not None else read_plugins()
    registry = _defaults.get(extra)
    if registry is None:
        registry = _defaults[extra] = OperatorRegistry.from_entry_points(
            plugins=extra, strict=False
        )
    return registry
