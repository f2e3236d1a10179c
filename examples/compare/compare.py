"""Compare location-privacy mechanisms under one protocol: one privacy–utility figure.

Every mechanism is run in its own workflow (``workflows/compare_<name>.json``), all built from the
same protocol below, so they share their nodes and therefore their cache entries: the same data,
the same temporal split (the first half of every user's trace is the attacker's knowledge, the
second half is protected and published), the same POI extraction (200 m / 15 min) and the same
attacks and metrics. Each run file (``runs/compare_<name>.json``) sweeps the mechanism's own
parameter from weak to strong protection.

    python examples/compare/compare.py --write        # regenerate workflows/ and runs/
    python examples/compare/compare.py                # run everything, write results and figure
    python examples/compare/compare.py --only geoind promesse --users 12 --days 4

Outputs in ``--out`` (default ``examples/compare/out``): ``results.csv`` (one row per child run),
``privacy_utility.vl.json`` (Vega-Lite) and ``privacy_utility.svg`` (a standalone rendering, as
matplotlib is not a dependency): AP-attack re-identification rate and POI retrieval F-score
against mean spatial distortion, one line per mechanism (configurations that publish nothing,
such as k-anonymity suppressing every event, have no utility and are left out of the figure).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: The protocol shared by every mechanism: node name -> (operator, inputs). ``Protect`` is the
#: mechanism's node; ``$`` marks its place in the inputs.
PROTOCOL: list[dict[str, Any]] = [
    {"op": "EventSource", "name": "Source",
     "inputs": {"url": {"param": "url"}, "kind": {"param": "kind"}}},
    {"op": "SequentialSplitting", "name": "Train",
     "inputs": {"percentBegin": 0.0, "percentEnd": 50.0, "data": {"reference": "Source/data"}}},
    {"op": "SequentialSplitting", "name": "Test",
     "inputs": {"percentBegin": 50.0, "percentEnd": 100.0, "data": {"reference": "Source/data"}}},
    {"op": "PoisExtraction", "name": "TrainPois",
     "inputs": {"diameter": "200.meters", "duration": "15.minutes",
                "data": {"reference": "Train/data"}}},
    {"op": "PoisExtraction", "name": "TestPois",
     "inputs": {"diameter": "200.meters", "duration": "15.minutes",
                "data": {"reference": "Test/data"}}},
    {"op": "PoisExtraction", "name": "ProtectedPois",
     "inputs": {"diameter": "200.meters", "duration": "15.minutes",
                "data": {"reference": "Protect/data"}}},
    {"op": "PoisRetrieval", "name": "Retrieval",
     "inputs": {"threshold": "100.meters", "train": {"reference": "TestPois/data"},
                "test": {"reference": "ProtectedPois/data"}}},
    {"op": "PoisReident", "name": "PoiAttack",
     "inputs": {"train": {"reference": "TrainPois/data"},
                "test": {"reference": "ProtectedPois/data"}}},
    {"op": "ApAttack", "name": "ApAttack",
     "inputs": {"cellSize": "800.meters", "train": {"reference": "Train/data"},
                "test": {"reference": "Protect/data"}}},
    {"op": "SpatialDistortion", "name": "Distortion",
     "inputs": {"interpolate": False, "train": {"reference": "Test/data"},
                "test": {"reference": "Protect/data"}}},
    {"op": "DataCompleteness", "name": "Completeness",
     "inputs": {"train": {"reference": "Test/data"}, "test": {"reference": "Protect/data"}}},
    {"op": "AreaCoverage", "name": "Coverage",
     "inputs": {"level": 15, "train": {"reference": "Test/data"},
                "test": {"reference": "Protect/data"}}},
]  # fmt: skip

EPSILONS = [0.1, 0.03, 0.01, 0.003, 0.001]
#: name -> (operator, swept parameter, its kind, values from weak to strong protection,
#: extra constant inputs of the mechanism node).
MECHANISMS: dict[str, tuple[str, str, str, list[Any], dict[str, Any]]] = {
    "geoind": ("GeoIndistinguishability", "epsilon", "double", EPSILONS, {}),
    "remap": (
        "GeoIndRemapping",
        "epsilon",
        "double",
        EPSILONS,
        {"cellSize": "200.meters", "train": {"reference": "Train/data"}},
    ),
    "adaptive": ("AdaptiveGeoInd", "epsilon", "double", EPSILONS, {}),
    "clustering": ("ClusteringGeoInd", "epsilon", "double", EPSILONS, {"radius": "200.meters"}),
    "promesse": (
        "Promesse",
        "epsilon",
        "distance",
        ["50.meters", "100.meters", "200.meters", "500.meters", "1000.meters"],
        {},
    ),
    "uniform": (
        "UniformNoise",
        "radius",
        "distance",
        ["30.meters", "100.meters", "300.meters", "1000.meters", "3000.meters"],
        {},
    ),
    "gaussian": (
        "GaussianNoise",
        "sigma",
        "distance",
        ["20.meters", "60.meters", "200.meters", "600.meters", "2000.meters"],
        {},
    ),
    "s2": ("S2Cloaking", "level", "integer", [18, 16, 14, 12, 10], {}),
    "grid": (
        "GridSnapping",
        "cellSize",
        "distance",
        ["25.meters", "100.meters", "400.meters", "1600.meters", "6400.meters"],
        {},
    ),
    "kanon": ("KAnonymityCloaking", "k", "integer", [2, 3, 4, 6, 8], {"window": "1.hours"}),
}

METRICS = {
    "Distortion/meanDistortion": "distortion_m",
    "Coverage/meanFscore": "coverage_f",
    "Completeness/meanCompleteness": "completeness",
    "Retrieval/meanFscore": "poi_f",
    "PoiAttack/rate": "poi_attack",
    "ApAttack/rate": "ap_attack",
}


def workflow(name: str) -> dict[str, Any]:
    """The workflow of one mechanism: the shared protocol plus its ``Protect`` node."""
    op, param, kind, values, extra = MECHANISMS[name]
    protect = {
        "op": op,
        "name": "Protect",
        "inputs": {param: {"param": param}, **extra, "data": {"reference": "Test/data"}},
    }
    return {
        "id": f"compare_{name}",
        "name": f"{op} under the comparison protocol (temporal split, POIs, attacks)",
        "params": [
            {"name": "url", "kind": "string"},
            {"name": "kind", "kind": "string", "default_value": "csv"},
            {"name": param, "kind": kind, "default_value": values[len(values) // 2]},
        ],
        "graph": [*PROTOCOL[:3], protect, *PROTOCOL[3:]],
    }


def run_file(name: str, repeat: int = 1) -> dict[str, Any]:
    """The sweep of one mechanism's parameter."""
    _, param, _, values, _ = MECHANISMS[name]
    return {
        "workflow": f"compare_{name}",
        "name": f"compare: {name}",
        "tags": ["compare", name],
        "seed": 20240101,
        "repeat": repeat,
        "params": {param: {"values": values}},
    }


def write_definitions() -> None:
    for sub in ("workflows", "runs"):
        (HERE / sub).mkdir(exist_ok=True)
    for name in MECHANISMS:
        for sub, doc in (("workflows", workflow(name)), ("runs", run_file(name))):
            path = HERE / sub / f"compare_{name}.json"
            path.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {path.relative_to(HERE)}")


def synthetic_data(home: Path, users: int, days: int) -> Path:
    """Synthetic users written once as Parquet (the generator of accio_locapriv.synthetic)."""
    import pyarrow.parquet as pq

    from accio_locapriv.synthetic import generate_traces

    path = home / "compare-data" / f"synthetic-{users}u-{days}d.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        events, _ = generate_traces(users, days, 120_000, 10.0, (45.76, 4.84), seed=1)
        pq.write_table(events, path)
    return path


def run_all(names: list[str], users: int, days: int, repeat: int, home: str | None) -> list[dict]:
    """Push, submit and wait for every mechanism's sweep; one row per child run."""
    from accio.client.client import Client

    client = Client(home)
    url = str(synthetic_data(client.settings.home, users, days))
    rows: list[dict[str, Any]] = []
    submitted = []
    for name in names:
        client.push(workflow(name))
        sub = client.submit(run_file(name, repeat), params={"url": url, "kind": "parquet"})
        print(f"{name}: run {sub.run_id}, {len(sub.child_ids) or 1} child run(s)", flush=True)
        submitted.append((name, sub.run_id))
    for name, run_id in submitted:
        start = time.perf_counter()
        record = client.wait(run_id, poll=0.5)
        print(f"{name}: {record.state} in {time.perf_counter() - start:.1f} s", flush=True)
        frame = client.results(run_id).to_pylist()
        _, param, _, _, _ = MECHANISMS[name]
        for row in frame:
            out = {"mechanism": name, "param": param, "value": _value(row.get(param))}
            out.update({short: row.get(column) for column, short in METRICS.items()})
            rows.append(out)
    return rows


def _value(v: Any) -> Any:
    return getattr(v, "meters", v)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of every metric per (mechanism, parameter value), in the sweep's order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["mechanism"], str(row["value"])), []).append(row)
    out = []
    for (mechanism, value), members in groups.items():
        point: dict[str, Any] = {"mechanism": mechanism, "value": value, "n": len(members)}
        for short in METRICS.values():
            vals = [m[short] for m in members if isinstance(m.get(short), (int, float))]
            point[short] = sum(vals) / len(vals) if vals else None
        out.append(point)
    return out


def vega_lite(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Two panels: AP-attack rate and POI retrieval F-score against distortion (log scale)."""
    data = [
        {**p, "attack": label, "privacy_loss": p[key]}
        for p in points
        for key, label in (("ap_attack", "AP-attack rate"), ("poi_f", "POI retrieval F-score"))
        if p[key] is not None and p["distortion_m"] and p["completeness"]
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Privacy–utility trade-off (synthetic users; lower left is better)",
        "data": {"values": data},
        "facet": {"column": {"field": "attack", "title": None}},
        "spec": {
            "width": 320,
            "height": 260,
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {
                    "field": "distortion_m",
                    "type": "quantitative",
                    "scale": {"type": "log"},
                    "title": "mean spatial distortion (m)",
                },
                "y": {"field": "privacy_loss", "type": "quantitative", "title": "privacy loss"},
                "color": {"field": "mechanism", "type": "nominal"},
                "tooltip": [
                    {"field": "mechanism"},
                    {"field": "value"},
                    {"field": "distortion_m"},
                    {"field": "privacy_loss"},
                ],
            },
        },
    }


COLORS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6",
          "#9d755d", "#bab0ac"]  # fmt: skip


def svg(points: list[dict[str, Any]]) -> str:
    """A standalone SVG of the two panels (no plotting library needed)."""
    panels = (
        ("ap_attack", "AP-attack re-identification rate"),
        ("poi_f", "POI retrieval F-score"),
    )
    points = [p for p in points if p["completeness"]]  # nothing published: no utility point
    xs = [p["distortion_m"] for p in points if p["distortion_m"]]
    lo = 10 ** math.floor(math.log10(min(xs))) if xs else 1.0
    hi = 10 ** math.ceil(math.log10(max(xs))) if xs else 10.0
    w, h, m = 380, 300, 50
    names = list(dict.fromkeys(p["mechanism"] for p in points))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w + 160}" height="{h + 40}" '
        'font-family="sans-serif" font-size="11">',
        '<text x="10" y="16" font-size="13">Privacy–utility trade-off (synthetic users; '
        "lower left is better)</text>",
    ]
    for k, (key, title) in enumerate(panels):
        ox, oy = k * w + 10, 30
        pw, ph = w - m - 10, h - m - 20

        def px(x: float, ox: float = ox, pw: float = pw) -> float:
            return ox + m + (math.log10(x) - math.log10(lo)) / (math.log10(hi / lo)) * pw

        def py(y: float, oy: float = oy, ph: float = ph) -> float:
            return oy + 10 + (1 - y) * ph

        parts.append(f'<text x="{ox + m}" y="{oy + 5}">{title}</text>')
        parts.append(
            f'<rect x="{ox + m}" y="{oy + 10}" width="{pw}" height="{ph}" fill="none" '
            'stroke="#888"/>'
        )
        decade = lo
        while decade <= hi * 1.0001:
            x = px(decade)
            parts.append(
                f'<line x1="{x}" y1="{oy + 10}" x2="{x}" y2="{oy + 10 + ph}" stroke="#eee"/>'
            )
            parts.append(f'<text x="{x - 10}" y="{oy + ph + 24}">{decade:g}</text>')
            decade *= 10
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            parts.append(f'<text x="{ox + m - 28}" y="{py(tick) + 4}">{tick:.2f}</text>')
        parts.append(
            f'<text x="{ox + m + pw / 2 - 70}" y="{oy + ph + 40}">mean spatial distortion (m)</text>'
        )
        for c, name in enumerate(names):
            pts = [
                (px(p["distortion_m"]), py(p[key]))
                for p in points
                if p["mechanism"] == name and p["distortion_m"] and p[key] is not None
            ]
            if not pts:
                continue
            color = COLORS[c % len(COLORS)]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}"/>')
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in pts
            )
    for c, name in enumerate(names):
        y = 50 + 16 * c
        color = COLORS[c % len(COLORS)]
        parts.append(f'<rect x="{2 * w + 20}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{2 * w + 36}" y="{y + 1}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="only regenerate the JSON files")
    parser.add_argument("--only", nargs="*", choices=sorted(MECHANISMS), help="mechanisms to run")
    parser.add_argument("--users", type=int, default=12, help="synthetic users (default 12)")
    parser.add_argument("--days", type=int, default=4, help="synthetic days (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="repeats per value (default 1)")
    parser.add_argument("--home", help="Accio home (default: ACCIO_HOME or ~/.accio)")
    parser.add_argument("--out", default=str(HERE / "out"), help="output directory")
    args = parser.parse_args(argv)
    if args.write:
        write_definitions()
        return 0
    names = args.only or list(MECHANISMS)
    rows = run_all(names, args.users, args.days, args.repeat, args.home)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["mechanism"])
        writer.writeheader()
        writer.writerows(rows)
    points = summarise(rows)
    (out / "privacy_utility.vl.json").write_text(json.dumps(vega_lite(points), indent=1) + "\n")
    (out / "privacy_utility.svg").write_text(svg(points))
    print(
        f"\n{'mechanism':<11} {'value':>12} {'distortion':>11} {'complete':>8} {'AP rate':>8} "
        f"{'POI F':>6}"
    )
    for p in points:
        d, c, ap, pf = (
            "-" if p[k] is None else round(p[k], r)
            for k, r in (("distortion_m", 1), ("completeness", 3), ("ap_attack", 3), ("poi_f", 3))
        )
        print(f"{p['mechanism']:<11} {p['value']:>12} {d:>11} {c:>8} {ap:>8} {pf:>6}")
    print(f"\nwrote {out / 'results.csv'}, privacy_utility.vl.json and privacy_utility.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
