"""Plugins named in Settings are loaded explicitly; the environment is read only by config."""

from __future__ import annotations

import pytest

from accio.errors import RegistryError
from accio.ops.registry import OperatorRegistry, default_registry


def test_plugins_are_passed_down_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCIO_PLUGINS", raising=False)
    with_tests = OperatorRegistry.from_entry_points(plugins="accio.testing:operators")
    assert "Tally" in with_tests
    assert "Tally" not in OperatorRegistry.from_entry_points(plugins="")


def test_env_mapping_still_names_plugins() -> None:
    registry = OperatorRegistry.from_entry_points(env={"ACCIO_PLUGINS": "accio.testing:operators"})
    assert "Tally" in registry


def test_default_registry_is_cached_per_plugin_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    explicit = default_registry("")
    assert "Tally" not in explicit
    assert default_registry("") is explicit
    assert "Tally" in default_registry()  # no settings: $ACCIO_PLUGINS


def test_broken_plugin_names_itself() -> None:
    with pytest.raises(RegistryError, match="no_such_module"):
        OperatorRegistry.from_entry_points(plugins="no_such_module:operators")
