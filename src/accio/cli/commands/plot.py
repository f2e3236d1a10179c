"""``accio plot``: a sweep's figures as SVG, PNG or PDF files, the same specs as the web UI.

::

    accio plot RUN                                 # the trade-off plot: utility vs privacy
    accio plot RUN --pair Dist/meanDistance,Attack/rate --format pdf --out fig.pdf
    accio plot RUN --y Retrieval/meanFscore --x epsilon --log x
    accio plot RUN --x epsilon                     # every output against epsilon, one file each

The specs come from :mod:`accio.client.figures` (the web UI draws the same ones) and are drawn
by vl-convert (Vega's renderer, no browser); ``--format json`` writes the Vega-Lite spec itself.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from accio.cli import render as out
from accio.cli.commands.common import command, open_client, resolve_run
from accio.errors import EXIT_OK, UsageError


def register(subparsers: Any) -> None:
    plot = subparsers.add_parser(
        "plot",
        help="draw a sweep's figures as SVG, PNG or PDF",
        description="Draw a sweep's results as the web UI does: one metric against another (the "
        "default: a utility metric against a privacy metric, as the metric operators declare "
        "them), or metrics against a swept parameter, with 95 % intervals over repeats.",
    )
    plot.add_argument("run", metavar="RUN", help="a sweep parent's id (a unique prefix works)")
    plot.add_argument("--x", metavar="PARAM", help="swept parameter on x (metric-vs-parameter)")
    plot.add_argument("--y", metavar="NODE/PORT", help="metric on y (with --x: one figure)")
    plot.add_argument(
        "--pair", metavar="XMETRIC,YMETRIC", help="trade-off plot of these two metrics"
    )
    plot.add_argument(
        "--log",
        choices=("auto", "x", "y", "xy", "none"),
        default="auto",
        help="log axes: auto (log ranges, metrics over 2 decades; default), x, y, xy, none",
    )
    plot.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "json"),
        default=None,
        help="file format (default: the --out suffix, else svg); json: the Vega-Lite spec",
    )
    plot.add_argument(
        "--out", metavar="FILE", help="output file (several figures: a directory); default ./"
    )
    plot.add_argument("--width", type=int, default=None, help="plot width in pixels")
    plot.add_argument("--height", type=int, default=None, help="plot height in pixels")
    plot.add_argument("--font-size", type=int, default=12, help="font size (default 12)")
    plot.add_argument("--list", action="store_true", help="list the metrics and parameters")
    plot.set_defaults(handler=command(cmd_plot))


def _stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def cmd_plot(args: argparse.Namespace) -> int:
    from accio.client.figures import Figures, Options, render

    client = open_client(autostart=False)
    run = resolve_run(client, args.run)
    figs = Figures.of(client, run.id)
    if args.list:
        for p in figs.data.params:
            out.print_line(f"parameter {p}")
        for m in figs.data.metrics:
            info = figs.infos[m]
            role = f" [{info.role}]" if info.role else ""
            out.print_line(f"metric {m}: {info.axis_title}{role}")
        return EXIT_OK
    if not figs.data.rows or not figs.data.metrics:
        raise UsageError(f"run {run.id[:12]} has no successful child with a numeric output")
    try:
        base = Options(font_size=args.font_size, log=args.log)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def opts(wide: bool) -> Options:
        w, h = (540, 360) if wide else (base.width, base.height)
        return Options(args.width or w, args.height or h, base.font_size, base.log)

    specs: list[tuple[str, dict[str, Any]]] = []
    if args.x is not None:
        metrics = [args.y] if args.y else list(figs.data.metrics)
        for m in metrics:
            specs.append((f"{_stem(m)}-vs-{_stem(args.x)}", figs.against(m, args.x, opts(False))))
    else:
        xm: str | None = None
        ym: str | None = None
        if args.pair:
            parts = [p.strip() for p in args.pair.split(",")]
            if len(parts) != 2:
                raise UsageError("--pair takes two metrics: XMETRIC,YMETRIC")
            xm, ym = parts
        elif args.y:
            ym = args.y
        for asked in (xm, ym):
            if asked is not None and asked not in figs.data.metrics:
                raise UsageError(
                    f"no numeric output {asked!r}; outputs: {', '.join(figs.data.metrics)}"
                )
        spec = figs.tradeoff(xm, ym, opts(True))
        if spec is None:
            raise UsageError("a trade-off plot needs two numeric outputs")
        specs.append(("tradeoff", spec))

    fmt = args.format
    target = Path(args.out) if args.out else None
    if fmt is None:
        suffix = target.suffix.lstrip(".").lower() if target is not None else ""
        fmt = suffix if suffix in ("svg", "png", "pdf", "json") else "svg"
    single = len(specs) == 1 and target is not None and target.suffix != ""
    directory = target if target is not None and not single else Path(".")
    if not single:
        directory.mkdir(parents=True, exist_ok=True)
    for name, spec in specs:
        path = target if single and target is not None else directory / f"{name}.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        else:
            path.write_bytes(render(spec, fmt))
        out.print_line(f"Wrote {path}")
    return EXIT_OK


__all__ = ["register"]
