"""Count-query distortion: relative error of range counts."""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays
from accio_locapriv.kernels.geo import EARTH_RADIUS_M
from accio_locapriv.metrics._common import (
    _UTILITY,
    _mean,
    _traces,
    user_of,
)
from accio_locapriv.pois import meters, millis
from accio_locapriv.schema import OperatorInputError


@nb.njit(cache=True, nogil=True)
def _count_queries(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    user: np.ndarray,
    n_users: int,
    q_lat: np.ndarray,
    q_lng: np.ndarray,
    q_time: np.ndarray,
    half_size_m: float,
    half_duration: int,
) -> np.ndarray:
    """Distinct users with an event in each query box; events sorted by time."""
    out = np.zeros(q_lat.shape[0], dtype=np.int64)
    seen = np.full(n_users, -1, dtype=np.int64)
    dlat = half_size_m / (EARTH_RADIUS_M * math.pi / 180.0)
    for q in range(q_lat.shape[0]):
        dlng = dlat / max(math.cos(q_lat[q] * math.pi / 180.0), 1e-12)
        a = np.searchsorted(time, q_time[q] - half_duration, side="left")
        b = np.searchsorted(time, q_time[q] + half_duration, side="right")
        count = 0
        for i in range(a, b):
            u = user[i]
            if seen[u] == q:
                continue
            if abs(lat[i] - q_lat[q]) <= dlat:
                d = lng[i] - q_lng[q]
                if d > 180.0:
                    d -= 360.0
                elif d < -180.0:
                    d += 360.0
                if abs(d) <= dlng:
                    seen[u] = q
                    count += 1
        out[q] = count
    return out


def _by_time(arrays: TraceArrays, names: np.ndarray) -> tuple[np.ndarray, ...]:
    users = np.array([user_of(str(i)) for i in arrays.ids], dtype=object)
    idx = np.searchsorted(names, users) if len(users) else np.zeros(0, dtype=np.int64)
    user = np.repeat(idx.astype(np.int64), arrays.lengths)
    order = np.argsort(arrays.time, kind="stable")
    return arrays.lat[order], arrays.lng[order], arrays.time[order], user[order]


@operator(
    help="Relative error of random space-time counting queries on test against train.",
    description=(
        "Draws one square side in [minSize, maxSize] and one duration in [minDuration, "
        "maxDuration], then `n` queries centred on train events drawn at random (with "
        "replacement). A query counts the distinct users (id before the first '-') with at least "
        "one event in its square and time window. The error is |train − test| / train, or the "
        "test count when the train count is 0."
    ),
    unstable=True,
    cpus=1,
    memory="1G",
    **_UTILITY,
)
class CountQueriesDistortion:
    """Count-query distortion (utility of aggregate statistics)."""

    class Inputs:
        n = Port("integer", default=1000, min=0, help="Number of queries.")
        minSize = Port("distance", default="500.meters", min=0, help="Smallest square side.")
        maxSize = Port("distance", default="2000.meters", min=0, help="Largest square side.")
        minDuration = Port("duration", default="2.hours", min=0, help="Shortest time window.")
        maxDuration = Port("duration", default="4.hours", min=0, help="Longest time window.")
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")

    class Outputs:
        value = Port("list(double)", help="Relative error of each query.")
        meanDistortion = Port("double", help="Mean relative error.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        n = int(inputs.get("n", 1000))
        lo_s, hi_s = meters(inputs["minSize"]), meters(inputs["maxSize"])
        lo_d, hi_d = millis(inputs["minDuration"]), millis(inputs["maxDuration"])
        if n < 0 or lo_s > hi_s or lo_d > hi_d:
            raise OperatorInputError("need n >= 0, minSize <= maxSize, minDuration <= maxDuration")
        ref = _traces(inputs["train"])
        test = _traces(inputs["test"])
        if n == 0 or ref.n_events == 0:
            return {"value": (), "meanDistortion": 0.0}
        rng = ctx.rng()
        size = float(rng.uniform(lo_s, hi_s)) if hi_s > lo_s else lo_s
        duration = int(rng.integers(lo_d, hi_d + 1)) if hi_d > lo_d else lo_d
        centres = rng.integers(0, ref.n_events, size=n)
        names = np.unique(np.array([user_of(str(i)) for i in (*ref.ids, *test.ids)], dtype=object))
        q = (ref.lat[centres], ref.lng[centres], ref.time[centres])
        counts = []
        for arrays in (ref, test):
            lat, lng, time, user = _by_time(arrays, names)
            counts.append(
                _count_queries(
                    lat, lng, time, user, len(names), *q, size / 2.0, duration // 2
                ).astype(np.float64)
            )
        c_ref, c_test = counts
        err = np.where(c_ref > 0, np.abs(c_ref - c_test) / np.where(c_ref > 0, c_ref, 1.0), c_test)
        return {"value": tuple(float(v) for v in err), "meanDistortion": _mean(err)}
