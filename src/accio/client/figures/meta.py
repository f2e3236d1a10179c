"""What a plot knows about a metric, read from the declaration of the operator that outputs it.

A column ``Node/port`` of ``Client.results`` is looked up in the run's workflow (node → operator)
and the operator registry (port → ``help``, ``min``/``max``). Nothing here names an operator of a
plugin: titles, units, bounds and roles all come from declarations, so the same code labels
location-privacy metrics and anything else.

* **Title and unit**: the port's ``help`` sentence, with a trailing unit clause (``…, metres.``,
  ``… (ms).``) moved into the unit.
* **Bounds**: the port's declared ``min``/``max``; else ``[0, 1]`` for a rate, ratio, fraction,
  share, precision, recall or F-score (by its port name or help) — their intervals must stay in
  range.
* **Role**: the operator's category read as a path (``metric/privacy``, ``metric.utility``):
  its last segment, when it is one of :data:`ROLES`, decides the default pair of the trade-off
  plot (a privacy metric on y against a utility metric on x).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accio.definitions.model import Workflow
    from accio.ops.registry import OperatorRegistry

#: Roles a metric operator may declare as the last segment of its category.
ROLES = ("privacy", "utility")
#: Port-name or help words of a quantity in [0, 1].
_BOUNDED_WORDS = frozenset(
    {"rate", "ratio", "fraction", "share", "precision", "recall", "fscore", "proportion"}
)
_BOUNDED_HELP = re.compile(r"\b(fraction|share|proportion|ratio|rate)\s+of\b", re.IGNORECASE)
#: A unit clause at the end of a help sentence: ", metres." or " (ms)."
_UNIT_TAIL = re.compile(r"(?:,\s*|\s*\()([A-Za-zµ°/%² ]{1,20}?)\)?\.?\s*$")
_KNOWN_UNITS = {
    "metres": "m",
    "meters": "m",
    "metre": "m",
    "kilometres": "km",
    "milliseconds": "ms",
    "ms": "ms",
    "seconds": "s",
    "s": "s",
    "m": "m",
    "km": "km",
    "%": "%",
    "percent": "%",
    "bits": "bits",
}


@dataclass(frozen=True)
class MetricInfo:
    """A numeric output column as a figure shows it."""

    column: str  # ``Node/port``
    title: str
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    role: str = ""
    operator: str = ""

    @property
    def bounded01(self) -> bool:
        return self.lower == 0 and self.upper == 1

    @property
    def axis_title(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


def _split_unit(text: str) -> tuple[str, str]:
    """``("Mean of the per-trace means", "m")`` from ``"Mean of the per-trace means, metres."``."""
    text = text.strip()
    match = _UNIT_TAIL.search(text)
    if match:
        unit = _KNOWN_UNITS.get(match.group(1).strip().lower())
        if unit:
            return text[: match.start()].rstrip(" ,.;"), unit
    return text.rstrip(" ."), ""


def _words(port: str) -> list[str]:
    """``meanFscore`` → ``["mean", "Fscore"]``; ``success_rate`` → ``["success", "rate"]``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", port).replace("_", " ").split()


def _humanize(port: str) -> str:
    """``meanFscore`` → ``mean F-score``; ``avg_dist`` → ``avg dist``."""
    out = []
    for w in _words(port):
        low = w.lower()
        out.append("F-score" if low == "fscore" else (w if w.isupper() and len(w) > 1 else low))
    return " ".join(out)


def _role(category: str) -> str:
    last = re.split(r"[/.:]", category)[-1].strip().lower()
    return last if last in ROLES else ""


def describe(
    columns: Iterable[str], workflow: Workflow | None, registry: OperatorRegistry | None
) -> dict[str, MetricInfo]:
    """A :class:`MetricInfo` per ``Node/port`` column (plain names when nothing is declared)."""
    infos: dict[str, MetricInfo] = {}
    for column in columns:
        node_name, _, port_name = column.partition("/")
        node = workflow.node(node_name) if workflow is not None else None
        spec = registry.get(node.op) if registry is not None and node is not None else None
        port = spec.output(port_name) if spec is not None else None
        help_text = port.help if port is not None else ""
        base, unit = _split_unit(help_text) if help_text else ("", "")
        if not unit and spec is not None:
            unit = _split_unit(spec.help)[1] if "per " not in spec.help.lower() else ""
            unit = unit if unit in ("m", "ms", "s", "km") else ""
        short = _humanize(port_name)
        title = f"{node_name}: {short}" if node_name else short
        if base and len(base) <= 48:
            title = f"{node_name}: {base[0].lower()}{base[1:]}"
        lower = port.min if port is not None else None
        upper = port.max if port is not None else None
        words = {w.lower() for w in _words(port_name)}
        bounded = words & _BOUNDED_WORDS or _BOUNDED_HELP.search(help_text)
        if lower is None and upper is None and bounded:
            lower, upper = 0.0, 1.0
        infos[column] = MetricInfo(
            column=column,
            title=title,
            unit=unit,
            lower=lower,
            upper=upper,
            role=_role(spec.category) if spec is not None else "",
            operator=node.op if node is not None else "",
        )
    return infos


def headline(metrics: Sequence[str], infos: dict[str, MetricInfo]) -> list[str]:
    """One metric per operator node: its summary scalar (a ``mean…`` port, else the first)."""
    chosen: dict[str, str] = {}
    for m in metrics:
        node, _, port = m.partition("/")
        current = chosen.get(node)
        if current is None or (
            port.lower().startswith(("mean", "avg"))
            and not current.partition("/")[2].lower().startswith(("mean", "avg"))
        ):
            chosen[node] = m
    return [m for m in metrics if m in chosen.values()]


def default_pair(metrics: Sequence[str], infos: dict[str, MetricInfo]) -> tuple[str, str] | None:
    """(x, y) of the trade-off plot: a utility metric against a privacy metric when operators
    declare those roles; else the headline metrics of two different nodes; else the first two."""
    if len(metrics) < 2:
        return None
    heads = headline(metrics, infos)
    by_role = {r: [m for m in heads if infos.get(m, MetricInfo(m, m)).role == r] for r in ROLES}
    if by_role["privacy"] and by_role["utility"]:
        return by_role["utility"][0], by_role["privacy"][0]
    if len(heads) >= 2:
        return heads[1], heads[0]
    return metrics[0], metrics[1]


__all__ = ["ROLES", "MetricInfo", "default_pair", "describe", "headline"]
