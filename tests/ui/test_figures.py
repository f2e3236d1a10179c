"""Figures from declarations: titles, units, bounds, roles, log axes, intervals, legend order."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from accio.client.figures import Figures, Options, render
from accio.client.figures.data import bootstrap, fmt, geometric, interval, student_t
from accio.client.figures.meta import describe
from accio.definitions.model import NodeDef, Workflow
from accio.ops.api import Port, operator
from accio.ops.registry import OperatorRegistry


@operator(category="metric/privacy", help="Link each released trace to its owner.")
class LinkAttack:
    class Outputs:
        rate = Port("double", help="Fraction of traces linked correctly.")
        tries = Port("integer", help="Attempts made.")
        generatedEvents = Port("integer", help="Events generated.")

    def run(self, inputs: Any, ctx: Any) -> dict[str, Any]:
        return {}


@operator(category="metric.utility", help="Distance between released and true points (metres).")
class Distance:
    class Outputs:
        worst = Port("double", help="Largest distance, metres.")
        meanDistance = Port("double", help="Mean of the per-trace means, metres.")

    def run(self, inputs: Any, ctx: Any) -> dict[str, Any]:
        return {}


@operator(category="metric", help="Scores.")
class Scores:
    class Outputs:
        precision = Port("double")
        score = Port("double", min=-1, max=1, help="A declared range.")

    def run(self, inputs: Any, ctx: Any) -> dict[str, Any]:
        return {}


REGISTRY = OperatorRegistry([LinkAttack, Distance, Scores])
WORKFLOW = Workflow(
    "w",
    "v",
    (NodeDef("Scores", "Scores"), NodeDef("Attack", "LinkAttack"), NodeDef("Dist", "Distance")),
)
EPS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def table(repeats: int = 3, mode: list[str] | None = None) -> pa.Table:
    rows = []
    for e in EPS:
        for m in mode or ["a", "b"]:
            for r in range(repeats):
                wobble = (r - 1) * 0.04
                rows.append(
                    {
                        "run_id": f"{e}-{m}-{r}",
                        "state": "success",
                        "repeat": r,
                        "epsilon": e,
                        "mode": m,
                        "Attack/rate": min(
                            1.0, max(0.0, 0.97 + wobble if e >= 0.1 else 0.002 * (1 + r))
                        ),
                        "Attack/tries": 10 + r,
                        "Dist/worst": 10.0 / e,
                        "Dist/meanDistance": 2.0 / e * (1 + wobble),
                        "Scores/precision": 0.5,
                        "Scores/score": 0.1 * r,
                    }
                )
    return pa.Table.from_pylist(rows)


@pytest.fixture
def figs() -> Figures:
    return Figures.from_table(table(), WORKFLOW, REGISTRY)


def test_titles_units_bounds_roles_from_declarations() -> None:
    cols = ["Attack/rate", "Attack/tries", "Dist/meanDistance", "Scores/precision", "Scores/score"]
    infos = describe(cols, WORKFLOW, REGISTRY)
    rate = infos["Attack/rate"]
    assert (rate.lower, rate.upper, rate.role) == (0.0, 1.0, "privacy")
    assert rate.title == "Attack: fraction of traces linked correctly"
    dist = infos["Dist/meanDistance"]
    assert dist.unit == "m" and dist.role == "utility" and dist.lower is None
    assert dist.axis_title == "Dist: mean of the per-trace means (m)"
    assert infos["Attack/tries"].lower is None  # an integer count is not a rate
    generated = describe(["Attack/generatedEvents"], WORKFLOW, REGISTRY)["Attack/generatedEvents"]
    assert generated.upper is None  # "rate" inside a word is not a rate
    assert (infos["Scores/precision"].lower, infos["Scores/precision"].upper) == (0.0, 1.0)
    assert (infos["Scores/score"].lower, infos["Scores/score"].upper) == (-1, 1)
    # unknown workflow: the plain column name, nothing invented
    bare = describe(["X/value"], None, None)["X/value"]
    assert bare.title == "X: value" and bare.role == "" and bare.unit == ""


def test_default_pair_is_utility_against_privacy(figs: Figures) -> None:
    assert figs.pair() == ("Dist/meanDistance", "Attack/rate")
    assert figs.pair("Scores/score", "Attack/tries") == ("Scores/score", "Attack/tries")
    # without declared roles: headline outputs of two different nodes, never two ports of one
    plain = Figures.from_table(table(), WORKFLOW, None)
    x, y = plain.pair() or ("", "")
    assert x.split("/")[0] != y.split("/")[0]


def test_bounded_intervals_stay_in_range() -> None:
    values = [0.93, 0.97, 1.0]
    mean, lo, hi = student_t(values)
    assert hi > 1  # what the old plots drew
    mean, lo, hi = interval(values, 0.0, 1.0)
    assert 0.93 <= lo <= mean <= hi <= 1.0
    assert bootstrap(values) == bootstrap(values)  # reproducible
    assert interval([5.0], 0, 1) == (5.0, 5.0, 5.0)
    _, lo, hi = interval([1.0, 2.0, 9.0], lower=0.0)
    assert lo >= 0.0  # a declared lower bound clips Student's interval


def test_log_axes_labels_and_bands(figs: Figures) -> None:
    spec = figs.against("Dist/meanDistance", "epsilon")
    assert spec["encoding"]["x"]["scale"] == {"type": "log"}  # a log range of epsilon
    band, line = spec["layer"]
    assert band["mark"]["type"] == "area" and line["mark"]["type"] == "line"
    assert band["encoding"]["y"]["scale"] == {"type": "log"}  # 2e0 to 2e4: four decades
    assert line["encoding"]["y"]["title"] == "Dist: mean of the per-trace means (m)"
    assert band["encoding"]["y"]["axis"]["values"] == [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]
    assert spec["encoding"]["x"]["axis"]["values"] == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    rate = figs.against("Attack/rate", "epsilon")
    assert rate["layer"][1]["encoding"]["y"]["scale"] == {"zero": False, "domain": [0, 1]}
    assert all(0 <= p["lo"] <= p["hi"] <= 1 for p in rate["data"]["values"])
    # a rate from 0.004 to 1 spans 2.4 decades, yet stays on its natural [0, 1] scale ...
    assert min(p["mean"] for p in rate["data"]["values"]) < 0.01
    # ... unless the reader asks for a log y axis
    logged = figs.against("Attack/rate", "epsilon", Options(log="y"))
    assert logged["layer"][1]["encoding"]["y"]["scale"] == {"type": "log"}
    # the log choice overrides: none puts both axes on linear scales
    flat = figs.against("Dist/meanDistance", "epsilon", Options(log="none"))
    assert flat["encoding"]["x"]["scale"] == {"zero": False}
    # a linear sweep with a small span stays linear under auto
    assert not geometric([1, 2, 3, 4]) and geometric(EPS)
    trade = figs.tradeoff()
    assert trade is not None
    labels = [p["label"] for p in trade["data"]["values"] if p["series"] == "a"]
    assert labels == ["1e-4", "0.001", "0.01", "0.1", "1"]
    assert trade["layer"][-1]["mark"]["type"] == "text"
    assert trade["layer"][2]["encoding"]["x"]["scale"] == {"type": "log"}
    assert trade["layer"][2]["encoding"]["x"]["title"].endswith("(m)")
    assert "labelled with epsilon" in trade["title"]["subtitle"]


def test_categorical_x_is_points_and_legend_numeric() -> None:
    figs = Figures.from_table(table(mode=["b", "a", "c"]), WORKFLOW, REGISTRY)
    spec = figs.against("Attack/rate", "mode")
    assert spec["encoding"]["x"]["type"] == "ordinal"
    assert {layer["mark"]["type"] for layer in spec["layer"]} == {"rule", "point"}
    assert [p["xlabel"] for p in spec["data"]["values"]][:3] == ["a", "a", "a"]
    legend = spec["encoding"]["color"]
    assert legend["sort"] == ["1e-4", "0.001", "0.01", "0.1", "1"]  # numeric, one format
    assert fmt(1e-5) == "1e-5" and fmt(250.0) == "250" and fmt(0.125) == "0.125"
    assert fmt(1.5e6) == "1.5e6" and fmt(0) == "0" and not math.isnan(float(fmt(0.5)))


def test_size_font_and_export(figs: Figures) -> None:
    opts = Options(width=500, height=320, font_size=15)
    spec = figs.tradeoff(opts=opts)
    assert spec is not None and (spec["width"], spec["height"]) == (500, 320)
    assert spec["config"]["axis"]["labelFontSize"] == 15
    with pytest.raises(ValueError, match="log"):
        Options(log="sideways")
    pytest.importorskip("vl_convert", reason="vl-convert-python is not installed")
    svg = render(spec, "svg").decode()
    assert svg.startswith("<svg") and "1e-4" in svg
    assert render(spec, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(spec, "pdf")[:5] == b"%PDF-"


def test_quantity_parameters_carry_their_unit() -> None:
    from accio.definitions.model import ParamDef
    from accio.values.types import parse_type

    wf = Workflow(
        "w",
        "v",
        WORKFLOW.nodes,
        (ParamDef("pause", parse_type("duration")), ParamDef("radius", parse_type("distance"))),
    )
    rows = [
        {"state": "success", "pause": ms, "radius": r, "Dist/worst": float(ms * r)}
        for ms in (1000, 2000, 4000)
        for r in (100.0, 200.0)
    ]
    figs = Figures.from_table(pa.Table.from_pylist(rows), wf, REGISTRY)
    spec = figs.against("Dist/worst", "pause")
    assert spec["encoding"]["x"]["title"] == "pause (ms)"
    assert spec["encoding"]["color"]["title"] == "radius (m)"
    assert spec["encoding"]["x"]["scale"] == {"type": "log"}  # 1, 2, 4 s: a log range
    assert spec["encoding"]["x"]["axis"]["values"] == [1000.0, 2000.0, 4000.0]


def test_exact_bootstrap_matches_every_resample() -> None:
    import itertools

    values = [0.2, 0.35, 0.5, 0.95]
    means = sorted(sum(r) / 4 for r in itertools.product(values, repeat=4))  # 256 resamples
    k = len(means)
    lo = means[math.ceil(0.025 * k) - 1]
    hi = means[math.ceil(0.975 * k) - 1]
    assert bootstrap(values)[1:] == pytest.approx((lo, hi))
    # with 3 repeats every resample of one value has probability 1/27 > 2.5 %: min and max
    assert bootstrap([0.93, 0.97, 1.0])[1:] == (0.93, 1.0)
    many = [0.1 * i for i in range(1, 11)]  # beyond 6 values: sampled, seeded, reproducible
    assert bootstrap(many) == bootstrap(many) and 0.1 < bootstrap(many)[1] < 0.55
