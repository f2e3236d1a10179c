"""Figures of a sweep as Vega-Lite specs, for the web UI and ``accio plot`` alike.

::

    from accio.client.figures import Figures, Options, save
    figs = Figures.of(client, run_id)
    spec = figs.tradeoff()                         # default pair: utility (x) vs privacy (y)
    save(spec, "tradeoff.pdf")                     # SVG, PNG or PDF through vl-convert

The layers: :mod:`.data` (results table → means and intervals), :mod:`.meta` (titles, units,
bounds and roles from operator declarations), :mod:`.specs` (Vega-Lite).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.client.figures.data import SweepData, sweep_data
from accio.client.figures.meta import MetricInfo, default_pair, describe
from accio.client.figures.specs import (
    LOG_CHOICES,
    MAX_CHARTS,
    Options,
    grid,
    metric_vs_metric,
    metric_vs_param,
    overlay,
)
from accio.errors import AccioError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from accio.client.contract import AccioClient
    from accio.definitions.model import Workflow
    from accio.ops.registry import OperatorRegistry

FORMATS = ("svg", "png", "pdf")
#: Units of quantity parameters as ``Client.results`` gives them (canonical numbers).
PARAM_UNITS = {"duration": "ms", "distance": "m"}


@dataclass(frozen=True)
class Figures:
    """A run's results with what its operators declare about each metric."""

    data: SweepData
    infos: dict[str, MetricInfo] = field(default_factory=dict)

    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        workflow: Workflow | None = None,
        registry: OperatorRegistry | None = None,
    ) -> Figures:
        data = sweep_data(table)
        if workflow is not None:
            units = {}
            for name in data.params:
                param = workflow.param(name)
                kind = str(param.kind) if param is not None else ""
                if kind in PARAM_UNITS:
                    units[name] = PARAM_UNITS[kind]
            data = replace(data, units=units)
        return cls(data, describe(data.metrics, workflow, registry))

    @classmethod
    def of(cls, client: AccioClient, run_id: str) -> Figures:
        run = client.run(run_id)
        try:
            workflow: Workflow | None = client.workflow(
                f"{run.workflow_id}:{run.workflow_version}"
            )
        except AccioError:
            workflow = None
        return cls.from_table(client.results(run_id), workflow, client.registry)

    def pair(self, x: str | None = None, y: str | None = None) -> tuple[str, str] | None:
        """The trade-off pair: the metrics asked for (when they exist), else the default."""
        metrics = list(self.data.metrics)
        if len(metrics) < 2 or not self.data.rows:
            return None
        default = default_pair(metrics, self.infos) or (metrics[0], metrics[1])
        xm = x if x in metrics else default[0]
        ym = y if y in metrics else (default[1] if default[1] != xm else None)
        if ym is None:
            ym = next(m for m in metrics if m != xm)
        return xm, ym

    def tradeoff(
        self, x: str | None = None, y: str | None = None, opts: Options | None = None
    ) -> dict[str, Any] | None:
        pair = self.pair(x, y)
        if pair is None:
            return None
        return metric_vs_metric(self.data, pair[0], pair[1], self.infos, opts)

    def against(self, metric: str, param: str, opts: Options | None = None) -> dict[str, Any]:
        if metric not in self.data.metrics:
            raise UsageError(
                f"no numeric output {metric!r}; outputs: {', '.join(self.data.metrics)}"
            )
        if param not in self.data.params:
            raise UsageError(f"{param!r} is not swept; swept: {', '.join(self.data.params)}")
        return metric_vs_param(self.data, metric, param, self.infos, opts)

    def grid(self, opts: Options | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        return grid(self.data, self.infos, opts) if self.data.plottable else []


def render(spec: dict[str, Any], fmt: str, *, scale: float = 2.0) -> bytes:
    """The figure as SVG, PNG (``scale`` × pixels) or PDF, drawn by vl-convert (Vega's own
    renderer in Rust: the same picture as the browser, no browser needed)."""
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        import vl_convert as vlc
    except ImportError:
        raise UsageError(
            "writing figures needs vl-convert-python: pip install 'accio[plot]'"
        ) from None
    if fmt == "svg":
        return str(vlc.vegalite_to_svg(spec)).encode("utf-8")
    if fmt == "png":
        return bytes(vlc.vegalite_to_png(spec, scale=scale))
    return bytes(vlc.vegalite_to_pdf(spec))


def save(spec: dict[str, Any], path: str | Path, fmt: str | None = None) -> Path:
    """Write a figure; the format is ``fmt`` or the file's suffix."""
    out = Path(path)
    chosen = fmt or out.suffix.lstrip(".").lower() or "svg"
    out.write_bytes(render(spec, chosen))
    return out


__all__ = [
    "FORMATS",
    "LOG_CHOICES",
    "MAX_CHARTS",
    "Figures",
    "MetricInfo",
    "Options",
    "SweepData",
    "overlay",
    "render",
    "save",
]
