"""POI retrieval and POI-based re-identification."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.kernels.geo import haversine
from accio_locapriv.metrics._common import (
    _PRIVACY,
    _fscore_outputs,
    user_of,
)
from accio_locapriv.pois import PoiArrays, meters, millis


def _poi_union(ref: PoiArrays, test: PoiArrays) -> np.ndarray:
    if not len(ref.ids) and not len(test.ids):
        return np.zeros(0, dtype=object)
    return np.asarray(np.union1d(ref.ids.astype(object), test.ids.astype(object)), dtype=object)


def poi_matches(
    ref: PoiArrays, test: PoiArrays, trace_id: str, threshold_m: float, overlap_ms: int | None
) -> int:
    """Distinct train POIs of one id hit by its test POIs.

    Each test POI is matched to the closest train POI within ``threshold_m`` metres (and, with
    ``overlap_ms``, whose time span overlaps its own by at least that many milliseconds).
    """
    r = ref.rows(trace_id)
    t = test.rows(trace_id)
    if r.stop <= r.start or t.stop <= t.start:
        return 0
    dist = haversine(
        test.lat[t][:, None], test.lng[t][:, None], ref.lat[r][None, :], ref.lng[r][None, :]
    )
    ok = dist <= threshold_m
    if overlap_ms is not None:
        common = np.minimum(test.end[t][:, None], ref.end[r][None, :]) - np.maximum(
            test.start[t][:, None], ref.start[r][None, :]
        )
        ok &= common >= overlap_ms
    dist = np.where(ok, dist, np.inf)
    best = np.argmin(dist, axis=1)
    hit = ok[np.arange(len(best)), best]
    return len(np.unique(best[hit]))


@operator(
    help="How many train POIs are found again in test, per trace (precision, recall, F-score).",
    description=(
        "Takes two POI datasets (see PoisExtraction). Each test POI is matched to the closest "
        "train POI of the same id within `threshold` (and, with `overlap`, whose time span "
        "overlaps its own by at least that long). The number of matches is the number of "
        "distinct train POIs hit; precision divides it by the test POIs, recall by the train "
        "POIs. Ids with POIs on one side only count as empty on the other."
    ),
    cpus=1,
    memory="1G",
    **_PRIVACY,
)
class PoisRetrieval:
    """Per-trace F-score of POI retrieval (Primault et al., MoST 2014)."""

    class Inputs:
        threshold = Port("distance", min=0, help="Largest distance between matching POIs.")
        overlap = Port("duration", optional=True, min=0, help="Smallest time overlap, if any.")
        train = Port("dataset", help="Reference POIs.")
        test = Port("dataset", help="POIs of the protected traces.")

    class Outputs:
        precision = Port("map(string, double)", help="Per trace: matches / test POIs.")
        recall = Port("map(string, double)", help="Per trace: matches / train POIs.")
        fscore = Port("map(string, double)", help="Per trace: harmonic mean of both.")
        meanPrecision = Port("double", help="Mean of the per-trace precisions.")
        meanRecall = Port("double", help="Mean of the per-trace recalls.")
        meanFscore = Port("double", help="Mean of the per-trace F-scores.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ref = PoiArrays(inputs["train"])
        test = PoiArrays(inputs["test"])
        threshold = meters(inputs["threshold"])
        overlap = inputs.get("overlap")
        overlap_ms = millis(overlap) if overlap is not None else None
        ids = _poi_union(ref, test)
        matched = np.array(
            [poi_matches(ref, test, str(k), threshold, overlap_ms) for k in ids], dtype=np.int64
        )
        n_ref = np.array([_count(ref, str(k)) for k in ids], dtype=np.int64)
        n_test = np.array([_count(test, str(k)) for k in ids], dtype=np.int64)
        return _fscore_outputs(ids, matched, n_ref, n_test)


def _count(pois: PoiArrays, trace_id: str) -> int:
    s = pois.rows(trace_id)
    return int(s.stop - s.start)


def _group_by_user(pois: PoiArrays) -> dict[str, np.ndarray]:
    """Row indices of the POIs of every user."""
    users: dict[str, list[int]] = {}
    for k, trace_id in enumerate(pois.ids):
        users.setdefault(user_of(str(trace_id)), []).extend(
            range(int(pois.offsets[k]), int(pois.offsets[k + 1]))
        )
    return {u: np.asarray(r, dtype=np.int64) for u, r in users.items()}


def _median_nn_distance(
    a_lat: np.ndarray, a_lng: np.ndarray, b_lat: np.ndarray, b_lng: np.ndarray
) -> float:
    d = haversine(a_lat[:, None], a_lng[:, None], b_lat[None, :], b_lng[None, :])
    return float(np.median(np.concatenate([d.min(axis=1), d.min(axis=0)])))


@operator(
    help="Link each test user to the train user with the most similar POIs (POI attack).",
    description=(
        "Takes two POI datasets; POIs are grouped by user (the part of the id before the first "
        "'-'). The distance between two users is the median of the distances from each POI of "
        "either user to the nearest POI of the other. Each test user is linked to the train user "
        "at the smallest distance (ties: the first id). rate = correct links / train users."
    ),
    cpus=1,
    memory="3G",
    **_PRIVACY,
)
class PoisReident:
    """POI-attack re-identification (Primault et al., MoST 2014)."""

    class Inputs:
        train = Port("dataset", help="POIs known to the attacker.")
        test = Port("dataset", help="POIs of the protected traces.")

    class Outputs:
        matches = Port("map(string, string)", help="Test user -> train user it is linked to.")
        rate = Port("double", help="Fraction of train users linked correctly.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ref = PoiArrays(inputs["train"])
        test = PoiArrays(inputs["test"])
        ref_users = _group_by_user(ref)
        test_users = _group_by_user(test)
        names = sorted(ref_users)
        matches: dict[str, str] = {}
        correct = 0
        for user in sorted(test_users):
            rows = test_users[user]
            best_name, best = "", math.inf
            for name in names:
                r = ref_users[name]
                d = _median_nn_distance(test.lat[rows], test.lng[rows], ref.lat[r], ref.lng[r])
                if d < best:
                    best_name, best = name, d
            if best_name:
                matches[user] = best_name
                correct += best_name == user
        rate = correct / len(names) if names else 0.0
        return {"matches": matches, "rate": float(rate)}
