"""Entry-point target: the list of operators this plugin provides (no import side effects)."""

from __future__ import annotations


def operators() -> list[type]:
    """Operator classes of the location-privacy library."""
    return []
