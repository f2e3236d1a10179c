"""Re-identification attacks as metrics, with per-user outputs: the AP-attack and uniqueness.

* :class:`ApAttack` links every test user to the train user whose heat map is closest (Maouche,
  Ben Mokhtar, Bouchenak, "AP-Attack: a novel user re-identification attack on mobility
  datasets", MobiQuitous 2017); besides the match and the overall rate it reports, per user, the
  rank of the true user among the candidates, so the worst-protected users are visible.
* :class:`Uniqueness` measures how many users a few spatio-temporal points single out
  (de Montjoye, Hidalgo, Verleysen, Blondel, "Unique in the crowd", Sci. Rep. 3, 2013) and how
  many are singled out by their top-N locations (Zang & Bolot, "Anonymization of location data
  does not work", MobiCom 2011), per user and on average.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays
from accio_locapriv.kernels.s2 import MAX_LEVEL, cell_ids
from accio_locapriv.metrics._common import _PRIVACY, _mean, _traces, user_of
from accio_locapriv.metrics.heatmap import (
    HEATMAP_DISTANCES,
    _heatmap_keys,
    _heatmaps,
    heatmap_distance,
)
from accio_locapriv.pois import meters, millis
from accio_locapriv.schema import OperatorInputError

__all__ = ["ApAttack", "Uniqueness", "ap_attack", "uniqueness", "user_points"]

_WORLD = ((-90.0, -180.0), (90.0, 180.0))


@njit(cache=True, nogil=True)
def _topsoe_common(
    t_cell: np.ndarray,
    t_user: np.ndarray,
    t_p: np.ndarray,
    r_cell: np.ndarray,
    r_user: np.ndarray,
    r_q: np.ndarray,
    out: np.ndarray,
) -> None:
    """Add, for every pair of users sharing a cell, that cell's Topsøe term minus the
    ``(p + q)·ln 2`` it would contribute if the cell were not shared (both inputs by cell)."""
    ln2 = math.log(2.0)
    i = 0
    j = 0
    n_t = t_cell.shape[0]
    n_r = r_cell.shape[0]
    while i < n_t and j < n_r:
        if t_cell[i] < r_cell[j]:
            i += 1
        elif t_cell[i] > r_cell[j]:
            j += 1
        else:
            c = t_cell[i]
            i1 = i
            while i1 < n_t and t_cell[i1] == c:
                i1 += 1
            j1 = j
            while j1 < n_r and r_cell[j1] == c:
                j1 += 1
            for a in range(i, i1):
                p = t_p[a]
                for b in range(j, j1):
                    q = r_q[b]
                    s = p + q
                    out[t_user[a], r_user[b]] += (
                        p * math.log(2.0 * p / s) + q * math.log(2.0 * q / s) - s * ln2
                    )
            i = i1
            j = j1


def _sparse(maps: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str]) -> tuple:
    """(cell, user index, probability) of every non-empty cell of every map, by cell."""
    if not names:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    cells = np.concatenate([maps[u][0] for u in names])
    users = np.repeat(np.arange(len(names)), [len(maps[u][0]) for u in names])
    probs = np.concatenate([maps[u][1] for u in names])
    order = np.argsort(cells, kind="stable")
    return cells[order], users[order], probs[order]


def _distance_matrix(
    res: dict[str, tuple[np.ndarray, np.ndarray]],
    ref: dict[str, tuple[np.ndarray, np.ndarray]],
    tests: list[str],
    names: list[str],
    kind: str,
) -> np.ndarray:
    """Heat-map distances, test users x train users."""
    if kind == "topsoe":  # only shared cells need work: the others add (p + q)·ln 2
        out = np.full((len(tests), len(names)), 2.0 * math.log(2.0))
        _topsoe_common(*_sparse(res, tests), *_sparse(ref, names), out)
        return np.maximum(out, 0.0)
    out = np.empty((len(tests), len(names)))
    for i, user in enumerate(tests):
        t_keys, t_p = res[user]
        for j, name in enumerate(names):
            r_keys, r_p = ref[name]
            cells = np.union1d(t_keys, r_keys)
            p = np.zeros(len(cells))
            q = np.zeros(len(cells))
            p[np.searchsorted(cells, t_keys)] = t_p
            q[np.searchsorted(cells, r_keys)] = r_p
            out[i, j] = heatmap_distance(p, q, kind, user)
    return out


def ap_attack(
    train: TraceArrays, test: TraceArrays, cell_m: float, kind: str = "topsoe"
) -> tuple[dict[str, str], dict[str, int], dict[str, float], float]:
    """The AP-attack: heat maps on a grid of ``cell_m`` metres, nearest train map per test user.

    Returns
    -------
    (matches, rank, distance, rate)
        ``matches[u]``: the train user test user ``u`` is linked to (smallest distance, ties to
        the smallest id); ``rank[u]``: position of ``u``'s own train map in that order (1 means
        re-identified), only for users present in train; ``distance[u]``: distance between
        ``u``'s test and train maps; ``rate``: correct links / train users.
    """
    ref = _heatmaps(*_heatmap_keys(train, cell_m, *_WORLD))
    res = _heatmaps(*_heatmap_keys(test, cell_m, *_WORLD))
    names = sorted(ref)
    tests = sorted(res)
    matches: dict[str, str] = {}
    rank: dict[str, int] = {}
    distance: dict[str, float] = {}
    if not names:
        return matches, rank, distance, 0.0
    matrix = _distance_matrix(res, ref, tests, names, kind)
    position = {name: j for j, name in enumerate(names)}
    for i, user in enumerate(tests):
        dists = np.where(np.isfinite(matrix[i]), matrix[i], np.inf)
        matches[user] = names[int(np.argmin(dists))]  # argmin: first of ties, ids sorted
        own = position.get(user)
        if own is not None:
            d = dists[own]
            # Users ranked before the true one: strictly closer, or as close with a smaller id.
            rank[user] = 1 + int(np.sum(dists < d) + np.sum(dists[:own] == d))
            if np.isfinite(d):
                distance[user] = float(d)
    correct = sum(1 for u, v in matches.items() if u == v)
    return matches, rank, distance, correct / len(names)


@operator(
    help="Link each test user to the train user with the closest heat map (AP-attack).",
    description=(
        "Per user (the part of the trace id before the first '-'), events are counted on a grid "
        "of cells about `cellSize` wide and normalised to a distribution (as HeatMapDistortion). "
        "Each test user is linked to the train user at the smallest `distanceType` distance "
        "(ties: the smallest id). rate = correct links / train users; rank gives, per test user, "
        "where its own train user comes in that order (1 = re-identified), so that the "
        "worst-protected users are visible."
    ),
    cpus=1,
    memory="2G",
    **_PRIVACY,
)
class ApAttack:
    """AP-attack re-identification (Maouche, Ben Mokhtar, Bouchenak, MobiQuitous 2017)."""

    class Inputs:
        train = Port("dataset", help="Traces known to the attacker.")
        test = Port("dataset", help="Protected traces.")
        cellSize = Port(
            "distance", default="800.meters", min=0, min_exclusive=True, help="Heat-map cell."
        )
        distanceType = Port(
            "string",
            default="topsoe",
            choices=tuple(sorted(HEATMAP_DISTANCES)),
            help="Distance between heat maps.",
        )

    class Outputs:
        matches = Port("map(string, string)", help="Test user -> train user it is linked to.")
        rank = Port("map(string, integer)", help="Per test user: rank of its true user (1 = hit).")
        distance = Port("map(string, double)", help="Per user: distance to its own train map.")
        rate = Port("double", help="Fraction of train users linked correctly.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        cell = meters(inputs.get("cellSize", 800.0))
        if not cell > 0:
            raise OperatorInputError(f"cellSize must be positive, got {cell} m")
        matches, rank, distance, rate = ap_attack(
            _traces(inputs["train"]),
            _traces(inputs["test"]),
            cell,
            str(inputs.get("distanceType") or "topsoe"),
        )
        return {"matches": matches, "rank": rank, "distance": distance, "rate": float(rate)}


def user_points(
    arrays: TraceArrays, level: int, resolution_ms: int
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Per user: distinct spatio-temporal points and the visit counts of its cells.

    A point is an S2 cell at ``level`` and a time bucket ``⌊t / resolution_ms⌋``, encoded as one
    structured value. Returns the sorted user names, each user's sorted distinct points, and each
    user's cells with the number of distinct time buckets it was seen in them (columns ``cell``,
    ``buckets``), most visited first (ties: smaller cell id first).
    """
    cells = cell_ids(arrays.lat, arrays.lng, level)
    buckets = arrays.time // resolution_ms
    trace_users = np.array([user_of(str(t)) for t in arrays.ids], dtype=object)
    names_arr, inverse = (
        np.unique(trace_users, return_inverse=True)
        if len(trace_users)
        else (trace_users, np.zeros(0, dtype=np.int64))
    )
    names = [str(u) for u in names_arr]
    user = np.repeat(inverse.reshape(-1).astype(np.int64), arrays.lengths)
    order = np.argsort(user, kind="stable")
    bounds = np.searchsorted(user[order], np.arange(len(names) + 1))
    key_type = np.dtype([("c", "<u8"), ("b", "<i8")])
    points: list[np.ndarray] = []
    tops: list[np.ndarray] = []
    for u in range(len(names)):
        rows = order[bounds[u] : bounds[u + 1]]
        keys = np.empty(len(rows), dtype=key_type)
        keys["c"] = cells[rows]
        keys["b"] = buckets[rows]
        pts = np.unique(keys)
        points.append(pts)
        c, n = np.unique(pts["c"], return_counts=True)
        top_order = np.lexsort((c, -n))
        tops.append(np.rec.fromarrays([c[top_order], n[top_order]], names="cell,buckets"))
    return names, points, tops


def uniqueness(
    arrays: TraceArrays,
    k: int,
    level: int,
    resolution_ms: int,
    top_n: int,
    trials: int,
    user_rng: Any,
) -> tuple[dict[str, float], dict[str, float]]:
    """Per user: the share of ``trials`` draws of ``k`` of its points that single it out, and
    whether its top-``top_n`` cells (as a set) single it out (1 or 0).

    A user is singled out by a set of points when no other user has all of them. A user with
    fewer than ``k`` distinct points is tested with all of them. ``user_rng(user)`` gives each
    user's generator (its draws do not depend on the other users).
    """
    names, points, tops = user_points(arrays, level, resolution_ms)
    index: dict[tuple[int, int], set[int]] = {}
    for u, pts in enumerate(points):
        for c, b in pts.tolist():
            index.setdefault((c, b), set()).add(u)
    by_points: dict[str, float] = {}
    for u, name in enumerate(names):
        pts = points[u].tolist()
        rng = user_rng(name)
        hits = 0
        for _ in range(trials):
            chosen = (
                rng.choice(len(pts), size=k, replace=False) if len(pts) > k else range(len(pts))
            )
            common = set.intersection(*(index[pts[i]] for i in chosen)) if len(pts) else set()
            hits += common == {u}
        by_points[name] = hits / trials if trials else 0.0
    top_sets = [frozenset(t.cell[:top_n].tolist()) for t in tops]
    counts: dict[frozenset[int], int] = {}
    for s in top_sets:
        counts[s] = counts.get(s, 0) + 1
    by_top = {name: float(counts[top_sets[u]] == 1) for u, name in enumerate(names)}
    return by_points, by_top


@operator(
    help="Share of users singled out by k random spatio-temporal points, and by top-N places.",
    description=(
        "Events become points: their S2 cell at `level` and their time bucket of length "
        "`resolution`. For each user (the part of the trace id before the first '-'), `trials` "
        "draws of `points` of its distinct points are made; the user is unique in a draw when no "
        "other user has all of them. unique gives each user's share of unique draws, "
        "uniqueness their mean. A user's top-N locations are the `topN` cells it was seen in "
        "for the most time buckets (ties: smaller cell id); topNUnique is 1 when no other user "
        "has the same set. Draws are keyed per user on the node seed."
    ),
    unstable=True,
    cpus=1,
    memory="2G",
    **_PRIVACY,
)
class Uniqueness:
    """Uniqueness of mobility traces (de Montjoye et al., Sci. Rep. 2013; Zang & Bolot, MobiCom
    2011)."""

    class Inputs:
        data = Port("dataset", help="Traces (original or protected).")
        points = Port("integer", default=4, min=1, help="Points known to the attacker.")
        level = Port("integer", default=15, min=0, max=MAX_LEVEL, help="S2 level of a point.")
        resolution = Port(
            "duration", default="1.hours", min=0, min_exclusive=True, help="Time bucket."
        )
        topN = Port("integer", default=2, min=1, help="Top locations known to the attacker.")
        trials = Port("integer", default=20, min=1, help="Draws per user.")

    class Outputs:
        unique = Port("map(string, double)", help="Per user: share of draws that single it out.")
        uniqueness = Port("double", help="Mean of unique over users.")
        topNUnique = Port("map(string, double)", help="Per user: 1 if its top-N set is unique.")
        topNUniqueness = Port("double", help="Share of users with a unique top-N set.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        by_points, by_top = uniqueness(
            _traces(inputs["data"]),
            int(inputs.get("points", 4)),
            int(inputs.get("level", 15)),
            millis(inputs.get("resolution", 3_600_000)),
            int(inputs.get("topN", 2)),
            int(inputs.get("trials", 20)),
            ctx.trace_rng,
        )
        return {
            "unique": by_points,
            "uniqueness": _mean(list(by_points.values())),
            "topNUnique": by_top,
            "topNUniqueness": _mean(list(by_top.values())),
        }
