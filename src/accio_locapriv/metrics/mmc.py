"""Re-identification with mobility Markov chains."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays
from accio_locapriv.kernels.geo import haversine
from accio_locapriv.kernels.stays import repeated_pois
from accio_locapriv.metrics._common import (
    _PRIVACY,
    _traces,
)
from accio_locapriv.pois import meters, millis


class _MmcModel:
    """States of one trace (POIs by decreasing weight) and their stationary weights."""

    def __init__(self, lat: np.ndarray, lng: np.ndarray, size: np.ndarray) -> None:
        order = np.argsort(-size, kind="stable")
        self.lat = lat[order]
        self.lng = lng[order]
        self.pi = size[order] / size.sum()


def _mmc_models(
    arrays: TraceArrays, diameter: float, duration: int, min_pts: int
) -> dict[str, _MmcModel]:
    pois = repeated_pois(
        arrays.lat, arrays.lng, arrays.time, arrays.offsets, diameter, duration, min_pts
    )
    models = {}
    bounds = np.searchsorted(pois.trace, np.arange(arrays.n_traces + 1))
    for k, trace_id in enumerate(arrays.ids):
        a, b = bounds[k], bounds[k + 1]
        if b > a:
            models[str(trace_id)] = _MmcModel(
                pois.lat[a:b], pois.lng[a:b], pois.size[a:b].astype(np.float64)
            )
    return models


_PROXIMITY_M = 100.0
_STAT_SWITCH_M = 2000.0


def mmc_distance(a: _MmcModel, b: _MmcModel) -> float:
    """Stat-prox distance from model ``a`` (unknown) to model ``b`` (known), metres or 1/score.

    ``d_stat = Σ_i π_a(i)·min_j |c_a,i − c_b,j|``; ``d_prox = 1/score`` where the k-th states of
    both (by decreasing π) within 100 m add 10, 5, 2, 1, 1, ... Use ``d_prox`` when it is finite
    and ``d_stat > 2000 m``, else ``d_stat`` (Gambs et al. 2014, as combined in the original).
    """
    d = haversine(a.lat[:, None], a.lng[:, None], b.lat[None, :], b.lng[None, :])
    stat = float(np.sum(a.pi * d.min(axis=1)))
    k = min(len(a.pi), len(b.pi))
    close = np.diag(d[:k, :k]) < _PROXIMITY_M
    weights = np.ones(k)
    w = 10
    for i in range(k):
        weights[i] = w
        w = max(1, w // 2)
    score = float(np.sum(weights[close]))
    if score > 0 and stat > _STAT_SWITCH_M:
        return 1.0 / score
    return stat


@operator(
    help="Link each test trace to a train trace by comparing mobility Markov chains (MMC).",
    description=(
        "Each trace is summarised by its states, the places it visits repeatedly (stays of "
        "`diameter`/`duration` grouped by DJ-Cluster with `minPts` stays, as in PoisExtraction), "
        "weighted by the share of events spent there. Test traces are linked to the train trace "
        "at the smallest stat-prox distance (Gambs, Killijian, Núñez del Prado Cortez, JCSS "
        "2014). States are ranked by decreasing weight (the original ranked them increasingly) "
        "and the default duration is one hour (the original's 3.6 s was a unit slip). "
        "Unlinked ids map to '-'; rate = correct links / test traces."
    ),
    cpus=1,
    memory="3G",
    **_PRIVACY,
)
class MmcReident:
    """Re-identification with mobility Markov chains."""

    class Inputs:
        train = Port("dataset", help="Traces known to the attacker.")
        test = Port("dataset", help="Protected traces.")
        minPts = Port("integer", default=10, min=1, help="Stays needed to form a state.")
        diameter = Port("distance", default="3000.meters", min=0, help="Stay diameter.")
        duration = Port("duration", default="1.hours", min=0, help="Shortest stay.")
        attack = Port("string", default="gambs", choices=("gambs",), help="Attack variant.")

    class Outputs:
        matches = Port("map(string, string)", help="Test trace -> train trace, or '-'.")
        rate = Port("double", help="Fraction of test traces linked correctly.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        diameter = meters(inputs.get("diameter", 3000.0))
        duration = millis(inputs.get("duration", 3_600_000))
        min_pts = int(inputs.get("minPts", 10))
        ref = _traces(inputs["train"])
        test = _traces(inputs["test"])
        ref_models = _mmc_models(ref, diameter, duration, min_pts)
        test_models = _mmc_models(test, diameter, duration, min_pts)
        names = sorted(ref_models)
        matches = {str(k): "-" for k in (*ref.ids, *test.ids)}
        correct = 0
        for trace_id, model in sorted(test_models.items()):
            best_name, best = "", math.inf
            for name in names:
                d = mmc_distance(model, ref_models[name])
                if d < best:
                    best_name, best = name, d
            if best_name:
                matches[trace_id] = best_name
                correct += best_name == trace_id
        rate = correct / test.n_traces if test.n_traces else 0.0
        return {"matches": matches, "rate": float(rate)}
