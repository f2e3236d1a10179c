"""Entry-point target: the list of operators this plugin provides (no import side effects)."""

from __future__ import annotations


def operators() -> list[type]:
    """Operator classes of the location-privacy library, by module."""
    from accio_locapriv import baselines, mechanisms, metrics, pois, sources, transforms

    return [
        *sources.OPERATORS,
        *transforms.OPERATORS,
        *pois.OPERATORS,
        *mechanisms.OPERATORS,
        *baselines.OPERATORS,
        *metrics.OPERATORS,
    ]
