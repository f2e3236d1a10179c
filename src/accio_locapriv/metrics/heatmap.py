"""Heat-map distortion between per-user visit distributions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from accio.definitions.seeds import derive_trace_seed
from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays
from accio_locapriv.kernels.geo import EARTH_RADIUS_M
from accio_locapriv.metrics._common import (
    _UTILITY,
    _mean,
    _traces,
    user_of,
)
from accio_locapriv.pois import meters
from accio_locapriv.schema import OperatorInputError


def _floor_div(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.where(q > 0, p / np.where(q > 0, q, 1.0), p / 1e-10)


def _topsoe(p: np.ndarray, q: np.ndarray) -> float:
    s = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(2.0 * p / s), 0.0)
        b = np.where(q > 0, q * np.log(2.0 * q / s), 0.0)
    return float(np.sum(a + b))


def _jensen(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(p > 0, p * np.log(p), 0.0)
        lq = np.where(q > 0, q * np.log(q), 0.0)
        lm = np.where(m > 0, m * np.log(m), 0.0)
    return float(np.sum(0.5 * (lp + lq) - lm))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(_floor_div(p, q)), 0.0)
    return float(np.sum(terms))


def _ndiv(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((p - q) ** 2 / np.where(p > 0, p, 1e-10)))


def _cosine(p: np.ndarray, q: np.ndarray) -> float:
    return float(1.0 - np.dot(p, q) / math.sqrt(float(np.dot(p, p)) * float(np.dot(q, q))))


def _dice(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((p - q) ** 2) / (np.dot(p, p) + np.dot(q, q)))


def _innerp(p: np.ndarray, q: np.ndarray) -> float:
    return float(1.0 - np.dot(p, q))


def _clark(p: np.ndarray, q: np.ndarray) -> float:
    return float(math.sqrt(float(np.sum(((p - q) / (p + q)) ** 2))))


def _loren(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(np.log1p(np.abs(p - q))))


def _nonzero_ratio(p: np.ndarray, q: np.ndarray) -> float:
    common = np.count_nonzero((p > 0) & (q > 0))
    return float(1.0 - common / (np.count_nonzero(p) + np.count_nonzero(q)))


#: Heat-map distances by name. Each takes two aligned probability vectors over the union of the
#: non-empty cells of both maps (P from test, Q from train, as in the original).
HEATMAP_DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "topsoe": _topsoe,
    "jensendiv": _jensen,
    "kl": _kl,
    "ndiv": _ndiv,
    "cosine": _cosine,
    "dice": _dice,
    "innerp": _innerp,
    "clark": _clark,
    "loren": _loren,
    "nonzerocellsratio": _nonzero_ratio,
}


def _det(p: np.ndarray, q: np.ndarray, rng: np.random.Generator) -> float:
    cells = np.flatnonzero(p > 0)
    k = min(10, len(cells))
    total = 0.0
    for _ in range(10):
        chosen = rng.choice(cells, size=k, replace=False)
        total += math.sqrt(float(np.sum((p[chosen] - q[chosen]) ** 2)))
    return total / 10.0


def heatmap_distance(p: np.ndarray, q: np.ndarray, kind: str, key: str = "") -> float:
    """Distance between two heat maps given as aligned probability vectors.

    Parameters
    ----------
    p, q : numpy.ndarray
        Probabilities (each sums to 1) over the union of the non-empty cells of both maps.
    kind : str
        One of :data:`HEATMAP_DISTANCES` or ``det``.
    key : str
        Seeds ``det`` (a user id), so that the distance is deterministic.

    Notes
    -----
    Definitions (natural logarithms, sums over the union of cells, ``0·ln 0 = 0``):

    * ``topsoe``: Σ p·ln(2p/(p+q)) + q·ln(2q/(p+q)), in [0, 2 ln 2], twice ``jensendiv``;
    * ``jensendiv``: Σ (p ln p + q ln q)/2 − m ln m with m = (p+q)/2;
    * ``kl``: Σ p·ln(p/q), q floored at 1e-10 where it is 0 (as in the original);
    * ``ndiv``: Neyman's χ², Σ (p−q)²/p with p floored at 1e-10. The original summed (p+q)²/p,
      which is not 0 for equal maps; that is treated as a typo;
    * ``cosine``: 1 − p·q/(|p||q|); ``dice``: Σ(p−q)²/(Σp² + Σq²); ``innerp``: 1 − Σ pq;
    * ``clark``: √Σ((p−q)/(p+q))²; ``loren`` (Lorentzian): Σ ln(1 + |p−q|);
    * ``nonzerocellsratio``: 1 − |cells of both| / (|cells of p| + |cells of q|);
    * ``det``: mean over 10 draws of the L2 distance restricted to 10 random non-empty cells of
      p; the draws are seeded by ``key``.

    References
    ----------
    S.-H. Cha, "Comprehensive survey on distance/similarity measures between probability density
    functions", Int. J. Math. Models Methods Appl. Sci. 1(4), 2007. Maouche et al., "AP-Attack",
    MobiQuitous 2017.
    """
    if kind == "det":
        return _det(p, q, np.random.default_rng(derive_trace_seed(0, f"heatmap-det/{key}")))
    try:
        fn = HEATMAP_DISTANCES[kind]
    except KeyError:
        known = ", ".join(sorted([*HEATMAP_DISTANCES, "det"]))
        raise OperatorInputError(
            f"unknown distanceType {kind!r} (expected one of {known})"
        ) from None
    return fn(p, q)


def _heatmap_keys(
    arrays: TraceArrays, cell: float, lower: tuple[float, float], upper: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, cell key) of every event inside the box, and the users' names."""
    users = np.array([user_of(str(i)) for i in arrays.ids], dtype=object)
    names, user_of_trace = (
        np.unique(users, return_inverse=True) if len(users) else (users, np.zeros(0, np.int64))
    )
    user = np.repeat(user_of_trace.astype(np.int64), arrays.lengths)
    lat_lo, lat_hi = min(lower[0], upper[0]), max(lower[0], upper[0])
    lng_lo, lng_hi = min(lower[1], upper[1]), max(lower[1], upper[1])
    inside = (
        (arrays.lat >= lat_lo)
        & (arrays.lat <= lat_hi)
        & (arrays.lng >= lng_lo)
        & (arrays.lng <= lng_hi)
    )
    k = EARTH_RADIUS_M * math.pi / 180.0
    row = np.floor((arrays.lat[inside] - lat_lo) * k / cell)
    # Columns are measured along the row's central parallel, so cells are about cell × cell
    # metres on the ground at every latitude.
    mid_lat = lat_lo + (row + 0.5) * cell / k
    col = np.floor((arrays.lng[inside] - lng_lo) * k * np.cos(np.radians(mid_lat)) / cell)
    key = row.astype(np.int64) * (1 << 32) + col.astype(np.int64)
    return np.stack([user[inside], key], axis=1), names


def _heatmaps(keys: np.ndarray, names: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per user: sorted cell keys and their probabilities."""
    if keys.shape[0] == 0:
        return {}
    user, cell = keys[:, 0], keys[:, 1]
    order = np.lexsort((cell, user))
    user, cell = user[order], cell[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (cell[1:] != cell[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(order)))
    u_user, u_cell = user[starts], cell[starts]
    bounds = np.flatnonzero(np.diff(u_user)) + 1
    out = {}
    for part, c_part, cnt in zip(
        np.split(u_user, bounds), np.split(u_cell, bounds), np.split(counts, bounds), strict=True
    ):
        out[str(names[part[0]])] = (c_part, cnt / cnt.sum())
    return out


@operator(
    help="Compare each user's heat map (visit frequencies on a grid) in train and in test.",
    description=(
        "Events inside the box [lower, upper] are counted on a grid of cells about `cellSize` "
        "wide on the ground (rows along latitude, columns measured along each row's central "
        "parallel), per user (the part of the id before the first '-'), and normalised to "
        "probabilities. `distanceType` picks the distance between the test and train maps: "
        "topsoe (default), jensendiv, kl, ndiv, cosine, dice, innerp, clark, loren, "
        "nonzerocellsratio or det. Users present on one side only are left out (the original "
        "reported NaN), and avgDist averages the users present on both sides."
    ),
    cpus=1,
    memory="512M",
    **_UTILITY,
)
class HeatMapDistortion:
    """Per-user heat-map distance (the per-user half of the AP-attack, Maouche et al. 2017)."""

    class Inputs:
        train = Port("dataset", help="Reference traces.")
        test = Port("dataset", help="Protected traces.")
        distanceType = Port(
            "string",
            default="topsoe",
            choices=(
                "kl",
                "det",
                "nonzerocellsratio",
                "loren",
                "innerp",
                "cosine",
                "dice",
                "ndiv",
                "clark",
                "topsoe",
                "jensendiv",
            ),
            help="Distance between heat maps.",
        )
        cellSize = Port(
            "distance", min=0, min_exclusive=True, help="Grid cell size on the ground."
        )
        lower = Port("location", default="-61.0,-131.0", help="South-west corner of the grid.")
        upper = Port("location", default="80.0,171.0", help="North-east corner of the grid.")

    class Outputs:
        distortions = Port("map(string, double)", help="Per user: distance between heat maps.")
        avgDist = Port("double", help="Mean over users present on both sides.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        cell = meters(inputs["cellSize"])
        if not cell > 0:
            raise OperatorInputError(f"cellSize must be positive, got {cell} m")
        kind = str(inputs.get("distanceType", "topsoe"))
        lower = _latlng(inputs.get("lower"), (-61.0, -131.0))
        upper = _latlng(inputs.get("upper"), (80.0, 171.0))
        ref_maps = _heatmaps(*_heatmap_keys(_traces(inputs["train"]), cell, lower, upper))
        test_maps = _heatmaps(*_heatmap_keys(_traces(inputs["test"]), cell, lower, upper))
        dist: dict[str, float] = {}
        for user in sorted(set(ref_maps) & set(test_maps)):
            t_keys, t_p = test_maps[user]
            r_keys, r_p = ref_maps[user]
            cells = np.union1d(t_keys, r_keys)
            p = np.zeros(len(cells))
            q = np.zeros(len(cells))
            p[np.searchsorted(cells, t_keys)] = t_p
            q[np.searchsorted(cells, r_keys)] = r_p
            value = heatmap_distance(p, q, kind, user)
            if math.isfinite(value):
                dist[user] = value
        missing = len(set(ref_maps) ^ set(test_maps))
        if missing and ctx is not None:
            ctx.log(f"HeatMapDistortion: {missing} user(s) on one side only left out")
        return {"distortions": dist, "avgDist": _mean(list(dist.values()))}


def _latlng(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    if value is None:
        return default
    return float(value.lat), float(value.lng)
