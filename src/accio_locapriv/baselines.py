"""Baseline and modern location-privacy mechanisms beyond the original Accio (locapriv.md §2.7).

* :class:`UniformNoise`, :class:`GaussianNoise`: per-event noise, uniform in a disc or Gaussian
  per axis (Krumm, Pervasive 2007, "noise" baselines);
* :class:`S2Cloaking`, :class:`GridSnapping`: snapping to the centre of the S2 cell at a level,
  or of a metric grid cell (rounding / spatial cloaking baselines);
* :class:`KAnonymityCloaking`: every event generalised to the smallest S2 cell holding at least
  ``k`` distinct users in its time window, or suppressed (Gruteser & Grunwald, MobiSys 2003);
* :class:`GeoIndRemapping`: geo-indistinguishability followed by Bayesian remapping with a prior
  from the training data's heat map (Chatzikokolakis, ElSalamouny, Palamidessi, PETS 2017);
* :class:`AdaptiveGeoInd` (Al-Dhubhani & Cazalas, Wireless Networks 2018) and
  :class:`ClusteringGeoInd` (Cunha, Mendes, Vilela, ICCCS 2019).

Randomised mechanisms are unstable operators keyed per trace: trace ``t`` draws from a SplitMix64
stream seeded by ``ctx.trace_seed(t)``, so its output depends only on the node seed, its id and
its own events (not on the other traces, their order, threads or processes).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays, take_rows, to_arrays
from accio_locapriv.kernels.geo import EARTH_RADIUS_M, from_local, to_local
from accio_locapriv.kernels.laplace import apply_noise_seeded
from accio_locapriv.kernels.noise import adaptive_geoind, clustering_geoind, seeded_noise
from accio_locapriv.kernels.s2 import MAX_LEVEL, cell_centers, cell_ids
from accio_locapriv.pois import meters, millis
from accio_locapriv.schema import OperatorInputError, validate_traces

__all__ = [
    "OPERATORS",
    "AdaptiveGeoInd",
    "ClusteringGeoInd",
    "GaussianNoise",
    "GeoIndRemapping",
    "GridSnapping",
    "KAnonymityCloaking",
    "PriorGrid",
    "S2Cloaking",
    "UniformNoise",
    "bayesian_remap",
    "grid_snap",
    "k_anonymity_cloak",
    "trace_seeds",
]

_RES: dict[str, Any] = {"category": "lppm", "cpus": 1, "memory": "2G", "version": "1"}
_MODE_HELP = "Plane of the noise: local ground metres, or the original's Mercator plane."


def trace_seeds(arrays: TraceArrays, ctx: Any) -> np.ndarray:
    """One 64-bit seed per trace, ``ctx.trace_seed(id)`` (uint64)."""
    return np.fromiter(
        (ctx.trace_seed(t) for t in arrays.ids.tolist()), dtype=np.uint64, count=arrays.n_traces
    )


def _user_index(arrays: TraceArrays) -> np.ndarray:
    """User number of every event (users are the part of trace ids before the first '-')."""
    users = [str(t).split("-", 1)[0] for t in arrays.ids.tolist()]
    if not users:
        return np.zeros(0, dtype=np.int64)
    _, inverse = np.unique(np.asarray(users, dtype=object), return_inverse=True)
    return np.repeat(inverse.astype(np.int64), arrays.lengths)


def _noise_operator_run(inputs: dict[str, Any], ctx: Any, law: str, scale: float) -> pa.Table:
    table = validate_traces(inputs["data"])
    arrays = to_arrays(table, validate=False)
    lat, lng = seeded_noise(
        arrays.lat,
        arrays.lng,
        arrays.offsets,
        trace_seeds(arrays, ctx),
        law,
        scale,
        mercator=(inputs.get("mode") or "local") == "mercator",
    )
    return take_rows(table, None, lat=lat, lng=lng)


@operator(
    help="Move every event to a uniformly random point of a disc around it.",
    unstable=True,
    **_RES,
)
class UniformNoise:
    """Uniform noise in a disc of radius ``radius`` (mean displacement ``2·radius/3``).

    Reference: J. Krumm, "Inference attacks on location tracks", Pervasive 2007.
    """

    class Inputs:
        radius = Port("distance", min=0, min_exclusive=True, help="Radius of the disc.")
        mode = Port("string", default="local", choices=("local", "mercator"), help=_MODE_HELP)
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"data": _noise_operator_run(inputs, ctx, "disc", meters(inputs["radius"]))}


@operator(
    help="Add isotropic Gaussian noise N(0, sigma²) per axis to every event.",
    unstable=True,
    **_RES,
)
class GaussianNoise:
    """Gaussian noise, standard deviation ``sigma`` metres per axis (Rayleigh radius, mean
    ``sigma·√(π/2)``).

    Reference: J. Krumm, "Inference attacks on location tracks", Pervasive 2007.
    """

    class Inputs:
        sigma = Port("distance", min=0, min_exclusive=True, help="Standard deviation per axis.")
        mode = Port("string", default="local", choices=("local", "mercator"), help=_MODE_HELP)
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"data": _noise_operator_run(inputs, ctx, "gaussian", meters(inputs["sigma"]))}


@operator(help="Snap every event to the centre of its S2 cell at a level.", **_RES)
class S2Cloaking:
    """Grid snapping on the S2 hierarchy: each event becomes the centre of its cell at ``level``
    (level 15 ≈ 281 m, 12 ≈ 2.25 km). Deterministic and idempotent.

    Reference: J. Krumm, Pervasive 2007 (rounding); S2 Geometry (cell hierarchy).
    """

    class Inputs:
        level = Port("integer", default=15, min=0, max=MAX_LEVEL, help="S2 level of the cells.")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Snapped traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        lat, lng = cell_centers(cell_ids(arrays.lat, arrays.lng, int(inputs.get("level", 15))))
        return {"data": take_rows(table, None, lat=lat, lng=lng)}


def grid_snap(lat: np.ndarray, lng: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Every point moved to the centre of its cell of a global grid of about ``cell_m`` metres.

    Rows are bands of ``cell_m`` metres of latitude from the south pole; each row is cut into
    columns ``cell_m`` metres wide along its central parallel, from longitude -180 (the grid of
    :class:`~accio_locapriv.metrics.HeatMapDistortion`). A row's last column is narrower, and its
    centre is the middle of what is left of it, so snapping is idempotent everywhere.
    """
    if not cell_m > 0:
        raise ValueError(f"cell size must be > 0, got {cell_m}")
    k = EARTH_RADIUS_M * math.pi / 180.0
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    row = np.floor((lat + 90.0) * k / cell_m)
    mid = np.minimum(-90.0 + (row + 0.5) * cell_m / k, 90.0)
    width = np.minimum(cell_m / (k * np.maximum(np.cos(np.radians(mid)), 1e-12)), 360.0)
    col = np.floor((lng + 180.0) / width)
    lo = -180.0 + col * width
    centre = np.where(lo + width <= 180.0, lo + 0.5 * width, 0.5 * (lo + 180.0))
    return mid, centre


@operator(help="Snap every event to the centre of its cell of a metric grid.", **_RES)
class GridSnapping:
    """Spatial rounding on a global grid of ``cellSize`` cells (Krumm, Pervasive 2007): rows
    of ``cellSize`` metres of latitude, columns ``cellSize`` metres wide along each row's
    central parallel (the heat-map grid). Deterministic and idempotent."""

    class Inputs:
        cellSize = Port(
            "distance", default="250.meters", min=0, min_exclusive=True, help="Cell side."
        )
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Snapped traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        lat, lng = grid_snap(arrays.lat, arrays.lng, meters(inputs.get("cellSize", 250.0)))
        return {"data": take_rows(table, None, lat=lat, lng=lng)}


@njit(cache=True, nogil=True)
def _kanon_kernel(
    window: np.ndarray,
    leaf: np.ndarray,
    user: np.ndarray,
    n_users: int,
    k: int,
    min_level: int,
    max_level: int,
    cells: np.ndarray,
    levels: np.ndarray,
) -> None:
    """Levels and cells of events sorted by (window, leaf cell).

    A parent id is monotone in its descendants' ids, so the order by (window, leaf) is also the
    order by (window, parent) at every level: groups are runs, and the distinct users of a run
    are counted with a last-seen run per user (no sort per level).
    """
    n = window.shape[0]
    last = np.full(n_users, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    run = -1  # runs are numbered across levels, so `last` never needs a reset
    for level in range(max_level, min_level - 1, -1):
        lsb = np.uint64(1) << np.uint64(2 * (30 - level))
        mask = ~(lsb + lsb - np.uint64(1))
        first = run + 1
        prev_w = np.int64(0)
        prev_c = np.uint64(0)
        for i in range(n):
            c = (leaf[i] & mask) | lsb
            if i == 0 or window[i] != prev_w or c != prev_c:
                run += 1
                count[run - first] = 0
                prev_w = window[i]
                prev_c = c
            group[i] = run
            if last[user[i]] != run:
                last[user[i]] = run
                count[run - first] += 1
        for i in range(n):
            if levels[i] < 0 and count[group[i] - first] >= k:
                levels[i] = level
                cells[i] = (leaf[i] & mask) | lsb


def k_anonymity_cloak(
    arrays: TraceArrays,
    k: int,
    window_ms: int,
    min_level: int,
    max_level: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The S2 cell each event is generalised to, and its level (-1: suppressed).

    An event at time ``t`` in window ``⌊t / window_ms⌋`` is generalised to its smallest S2
    ancestor cell, from ``max_level`` up to ``min_level``, that holds events of at least ``k``
    distinct users (the event's own user included) in the same window; if none does, it is
    suppressed.

    Returns
    -------
    (cells, levels) : tuple of numpy.ndarray
        ``uint64`` cell ids (0 where suppressed) and int64 levels (-1 where suppressed).
    """
    if k < 1 or window_ms <= 0 or not 0 <= min_level <= max_level <= MAX_LEVEL:
        raise OperatorInputError(
            f"k-anonymity needs k >= 1, a positive window and 0 <= minLevel <= maxLevel <= 30 "
            f"(got k={k}, window={window_ms} ms, levels {min_level}..{max_level})"
        )
    n = arrays.n_events
    user = _user_index(arrays)
    window = arrays.time // int(window_ms)
    leaf = cell_ids(arrays.lat, arrays.lng, max_level)
    order = np.lexsort((leaf, window))
    sorted_cells = np.zeros(n, dtype=np.uint64)
    sorted_levels = np.full(n, -1, dtype=np.int64)
    _kanon_kernel(
        np.ascontiguousarray(window[order]),
        np.ascontiguousarray(leaf[order]),
        np.ascontiguousarray(user[order]),
        int(user.max()) + 1 if n else 1,
        int(k),
        int(min_level),
        int(max_level),
        sorted_cells,
        sorted_levels,
    )
    cells = np.empty(n, dtype=np.uint64)
    levels = np.empty(n, dtype=np.int64)
    cells[order] = sorted_cells
    levels[order] = sorted_levels
    return cells, levels


@operator(
    help="Generalise every event to the smallest S2 cell holding k users in its time window.",
    description=(
        "Spatial k-anonymity cloaking: each event becomes the centre of its smallest S2 ancestor "
        "cell (from maxLevel up to minLevel) that holds events of at least k distinct users "
        "(the part of the trace id before the first '-') in the same time window of length "
        "`window` (windows aligned on the epoch); events with no such cell are suppressed and "
        "counted. With coarsenTime, timestamps become the start of their window."
    ),
    **_RES,
)
class KAnonymityCloaking:
    """k-anonymous spatial cloaking on S2 cells (Gruteser & Grunwald, "Anonymous usage of
    location-based services through spatial and temporal cloaking", MobiSys 2003)."""

    class Inputs:
        k = Port("integer", default=5, min=1, help="Distinct users every released cell holds.")
        window = Port("duration", default="1.hours", min=0, min_exclusive=True, help="Window.")
        minLevel = Port("integer", default=8, min=0, max=MAX_LEVEL, help="Coarsest S2 level.")
        maxLevel = Port("integer", default=18, min=0, max=MAX_LEVEL, help="Finest S2 level.")
        coarsenTime = Port("boolean", default=False, help="Release window starts as times.")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Cloaked traces (suppressed events removed).")
        suppressed = Port("long", help="Events suppressed.")
        suppressedRate = Port("double", help="Share of events suppressed (0 for no events).")
        meanLevel = Port("double", help="Mean S2 level of the released events (0 if none).")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        window_ms = millis(inputs.get("window", 3_600_000))
        cells, levels = k_anonymity_cloak(
            arrays,
            int(inputs.get("k", 5)),
            window_ms,
            int(inputs.get("minLevel", 8)),
            int(inputs.get("maxLevel", 18)),
        )
        keep = np.flatnonzero(levels >= 0)
        lat, lng = cell_centers(cells[keep])
        time_ms = None
        if inputs.get("coarsenTime"):
            time_ms = arrays.time[keep] // window_ms * window_ms
        out = take_rows(table, keep, lat=lat, lng=lng, time_ms=time_ms)
        n = arrays.n_events
        return {
            "data": out,
            "suppressed": int(n - len(keep)),
            "suppressedRate": float((n - len(keep)) / n) if n else 0.0,
            "meanLevel": float(levels[keep].mean()) if len(keep) else 0.0,
        }


class PriorGrid:
    """A prior on a square grid of a local plane: the normalised event counts of a dataset.

    Attributes
    ----------
    lat0, lng0 : float
        Origin of the equirectangular plane (the mean position of the events), degrees.
    cell : float
        Cell side, metres.
    x, y : numpy.ndarray
        Support points: the mean position of the events of every non-empty cell, metres
        east/north of the origin.
    prior : numpy.ndarray
        Their probabilities (sum 1).
    """

    def __init__(self, lat: np.ndarray, lng: np.ndarray, cell: float) -> None:
        if not len(lat):
            raise OperatorInputError("the prior (train) dataset has no events")
        if not cell > 0:
            raise OperatorInputError(f"cellSize must be positive, got {cell} m")
        self.lat0 = float(np.mean(lat))
        self.lng0 = float(np.mean(lng))
        self.cell = float(cell)
        x, y = to_local(lat, lng, self.lat0, self.lng0)
        ix = np.floor(np.asarray(x) / cell).astype(np.int64)
        iy = np.floor(np.asarray(y) / cell).astype(np.int64)
        _, inverse, counts = np.unique(
            np.stack([ix, iy], axis=1), axis=0, return_inverse=True, return_counts=True
        )
        inverse = inverse.reshape(-1)
        # Each cell's mass sits at the mean of its events: the support points follow the data
        # instead of a lattice (cell centres put every remapped point up to half a cell away).
        self.x = np.bincount(inverse, weights=np.asarray(x, dtype=np.float64)) / counts
        self.y = np.bincount(inverse, weights=np.asarray(y, dtype=np.float64)) / counts
        self.prior = counts / counts.sum()

    @classmethod
    def from_points(cls, x: np.ndarray, y: np.ndarray, prior: np.ndarray) -> PriorGrid:
        """A prior given directly as planar support points and probabilities (tests)."""
        grid = cls.__new__(cls)
        grid.lat0, grid.lng0, grid.cell = 0.0, 0.0, 0.0
        grid.x = np.asarray(x, dtype=np.float64)
        grid.y = np.asarray(y, dtype=np.float64)
        p = np.asarray(prior, dtype=np.float64)
        grid.prior = p / p.sum()
        return grid


@njit(cache=True, nogil=True)
def _remap_kernel(
    zx: np.ndarray,
    zy: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    logp: np.ndarray,
    epsilon: float,
    squared: bool,
    out_x: np.ndarray,
    out_y: np.ndarray,
    x0: float,
    y0: float,
    size: float,
    nbx: int,
    nby: int,
    starts: np.ndarray,
) -> None:
    """Remap reports; support points are sorted by bucket (``starts``: offsets of the
    ``nbx × nby`` buckets of side ``size`` from ``(x0, y0)``, row-major in y)."""
    m = cx.shape[0]
    w = np.empty(m)
    idx = np.empty(m, dtype=np.int64)
    l_max = -np.inf
    for k in range(m):
        l_max = max(l_max, logp[k])
    for i in range(zx.shape[0]):
        bx = math.floor((zx[i] - x0) / size)
        by = math.floor((zy[i] - y0) / size)
        # 1. A lower bound of the largest log-weight, from the first ring of buckets (around
        # the report's bucket) that holds support points.
        lower = -np.inf
        r = max(0, bx - (nbx - 1), -bx, by - (nby - 1), -by)
        while lower == -np.inf and r <= nbx + nby + abs(bx) + abs(by):
            for iy in range(max(0, by - r), min(nby - 1, by + r) + 1):
                for ix in range(max(0, bx - r), min(nbx - 1, bx + r) + 1):
                    if abs(ix - bx) != r and abs(iy - by) != r:
                        continue
                    b = iy * nbx + ix
                    for k in range(starts[b], starts[b + 1]):
                        v = logp[k] - epsilon * math.hypot(cx[k] - zx[i], cy[k] - zy[i])
                        lower = max(lower, v)
            r += 1
        # 2. Only points within the distance where even the most probable cell falls e^-40
        # below that bound can matter: visit the buckets within it.
        reach = (l_max - lower + 40.0) / epsilon
        cap = nbx + nby + abs(bx) + abs(by)  # every bucket is within this many of the report's
        rb = cap if reach / size >= cap else math.ceil(reach / size) + 1
        n = 0
        best = -np.inf
        for iy in range(max(0, by - rb), min(nby - 1, by + rb) + 1):
            for ix in range(max(0, bx - rb), min(nbx - 1, bx + rb) + 1):
                b = iy * nbx + ix
                for k in range(starts[b], starts[b + 1]):
                    v = logp[k] - epsilon * math.hypot(cx[k] - zx[i], cy[k] - zy[i])
                    if v >= lower - 40.0:
                        w[n] = v
                        idx[n] = k
                        n += 1
                        best = max(best, v)
        # Posterior sigma(x | z) ∝ pi(x)·exp(-eps·d(x, z)); terms below e^-40 of the largest
        # cannot move the optimum by more than ~1e-17 of the loss and are dropped.
        s = 0.0
        mx = 0.0
        my = 0.0
        kept = 0
        for a in range(n):
            if w[a] >= best - 40.0:
                k = idx[a]
                weight = math.exp(w[a] - best)
                w[kept] = weight
                idx[kept] = k
                kept += 1
                s += weight
                mx += weight * cx[k]
                my += weight * cy[k]
        n = kept
        mx /= s
        my /= s
        if squared:  # the posterior mean minimises the expected squared distance
            out_x[i] = mx
            out_y[i] = my
            continue
        # Euclidean loss: the posterior's weighted geometric median (Weiszfeld iterations from
        # the posterior mean), then the best of {median, mean, z} by expected loss.
        # The iterations use the points of relative weight >= 1e-12 (moved to the front); the
        # final comparison of the candidates uses them all.
        major = 0
        for a in range(n):
            if w[a] >= 1e-12:
                w[a], w[major] = w[major], w[a]
                idx[a], idx[major] = idx[major], idx[a]
                major += 1
        gx = mx
        gy = my
        for _ in range(50):
            nx = 0.0
            ny = 0.0
            den = 0.0
            for a in range(major):
                k = idx[a]
                d = math.hypot(cx[k] - gx, cy[k] - gy)
                if d < 1e-9:
                    d = 1e-9
                nx += w[a] * cx[k] / d
                ny += w[a] * cy[k] / d
                den += w[a] / d
            nx /= den
            ny /= den
            moved = math.hypot(nx - gx, ny - gy)
            gx = nx
            gy = ny
            if moved < 1e-3:  # a millimetre
                break
        cand_x = (gx, mx, zx[i])
        cand_y = (gy, my, zy[i])
        best_loss = np.inf
        for c in range(3):
            loss = 0.0
            for a in range(n):
                k = idx[a]
                loss += w[a] * math.hypot(cx[k] - cand_x[c], cy[k] - cand_y[c])
            if loss < best_loss:
                best_loss = loss
                out_x[i] = cand_x[c]
                out_y[i] = cand_y[c]


def bayesian_remap(
    zx: np.ndarray,
    zy: np.ndarray,
    grid: PriorGrid,
    epsilon: float,
    loss: str = "euclidean",
    *,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Bayesian remapping of planar Laplace outputs (Chatzikokolakis, ElSalamouny, Palamidessi,
    "Efficient utility improvement for location privacy", PETS 2017).

    Given a reported point ``z`` of an ε-geo-indistinguishable mechanism and the prior ``π`` of
    ``grid``, the posterior is ``σ(x | z) ∝ π(x)·exp(−ε·d(x, z))`` and the remapped point is the
    ``z'`` minimising the expected loss ``Σ_x σ(x | z)·L(x, z')``: the posterior mean for the
    squared Euclidean loss, the weighted geometric median (Weiszfeld, never worse than the mean
    or ``z`` itself) for the Euclidean loss. Remapping is post-processing: ε is unchanged.

    Parameters
    ----------
    zx, zy : numpy.ndarray
        Reported points, metres in the grid's plane.
    grid : PriorGrid
        Support points and prior.
    epsilon : float
        The mechanism's privacy parameter, per metre.
    loss : {"euclidean", "squared"}
        Utility loss to minimise.
    threads : int, default 1
        Threads sharing the reports (the kernel releases the GIL); the result does not depend
        on it. Cost: O(support points) per report.
    """
    if loss not in ("euclidean", "squared"):
        raise ValueError(f"unknown loss {loss!r}: expected 'euclidean' or 'squared'")
    zx = np.ascontiguousarray(zx, dtype=np.float64)
    zy = np.ascontiguousarray(zy, dtype=np.float64)
    out_x = np.empty(len(zx))
    out_y = np.empty(len(zx))
    with np.errstate(divide="ignore"):
        logp = np.log(grid.prior)
    # Support points sorted into square buckets (at most 128 a side) so that each report visits
    # only the buckets that can carry posterior weight.
    x0, y0 = float(np.min(grid.x)), float(np.min(grid.y))
    extent = max(float(np.max(grid.x)) - x0, float(np.max(grid.y)) - y0, 1e-9)
    size = extent / 127.0
    nbx = int((float(np.max(grid.x)) - x0) // size) + 1
    nby = int((float(np.max(grid.y)) - y0) // size) + 1
    bx = np.minimum(((grid.x - x0) // size).astype(np.int64), nbx - 1)
    by = np.minimum(((grid.y - y0) // size).astype(np.int64), nby - 1)
    bucket = by * nbx + bx
    order = np.argsort(bucket, kind="stable")
    starts = np.searchsorted(bucket[order], np.arange(nbx * nby + 1)).astype(np.int64)
    cx = np.ascontiguousarray(grid.x[order], dtype=np.float64)
    cy = np.ascontiguousarray(grid.y[order], dtype=np.float64)
    logp = np.ascontiguousarray(logp[order])
    squared = loss == "squared"
    bounds = np.linspace(0, len(zx), max(1, int(threads)) + 1).astype(np.int64)

    def work(k: int) -> None:
        a, b = bounds[k], bounds[k + 1]
        _remap_kernel(
            zx[a:b],
            zy[a:b],
            cx,
            cy,
            logp,
            float(epsilon),
            squared,
            out_x[a:b],
            out_y[a:b],
            x0,
            y0,
            size,
            nbx,
            nby,
            starts,
        )

    if len(bounds) == 2:
        work(0)
    else:
        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            list(pool.map(work, range(len(bounds) - 1)))
    return out_x, out_y


@operator(
    help="Geo-indistinguishability, then Bayesian remapping with a prior from training data.",
    description=(
        "Each event gets planar Laplace noise of parameter epsilon (as GeoIndistinguishability, "
        "on the ground); the noisy point is then replaced by the point that minimises the "
        "expected distance to the true location under the posterior built from a prior: the "
        "event frequencies of `train` on a grid of `cellSize` cells (a local plane around the "
        "train data's mean position), each cell's mass at the mean of its events. Remapping "
        "is post-processing, so the guarantee stays epsilon-geo-indistinguishability, with a "
        "lower expected loss."
    ),
    unstable=True,
    **_RES,
)
class GeoIndRemapping:
    """Geo-I with optimal Bayesian remapping (Chatzikokolakis et al., PETS 2017)."""

    class Inputs:
        epsilon = Port(
            "double", default=0.001, min=0, min_exclusive=True, help="Privacy parameter per metre."
        )
        cellSize = Port(
            "distance", default="200.meters", min=0, min_exclusive=True, help="Prior grid cell."
        )
        loss = Port(
            "string",
            default="euclidean",
            choices=("euclidean", "squared"),
            help="Utility loss the remapping minimises.",
        )
        train = Port("dataset", help="Traces whose heat map is the prior (the attacker's).")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy, remapped traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        epsilon = float(inputs.get("epsilon", 0.001))
        train = to_arrays(validate_traces(inputs["train"]), validate=False)
        grid = PriorGrid(train.lat, train.lng, meters(inputs.get("cellSize", 200.0)))
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        lat, lng = apply_noise_seeded(
            arrays.lat, arrays.lng, arrays.offsets, trace_seeds(arrays, ctx), epsilon
        )
        zx, zy = to_local(lat, lng, grid.lat0, grid.lng0)
        rx, ry = bayesian_remap(zx, zy, grid, epsilon, inputs.get("loss") or "euclidean")
        lat, lng = from_local(rx, ry, grid.lat0, grid.lng0)
        return {"data": take_rows(table, None, lat=np.asarray(lat), lng=np.asarray(lng))}


@operator(
    help="Geo-indistinguishability whose budget adapts to how predictable each event is.",
    description=(
        "For each event the last `window` released points of its trace predict its position "
        "(linear regression on time). A prediction error below delta1 (default 0.96/epsilon) "
        "spends alpha·epsilon (more noise), above delta2 (default 2.7/epsilon) beta·epsilon "
        "(less noise), otherwise epsilon."
    ),
    unstable=True,
    **_RES,
)
class AdaptiveGeoInd:
    """Adaptive geo-indistinguishability (Al-Dhubhani & Cazalas, Wireless Networks 24(8), 2018);
    defaults alpha = 0.1, beta = 5, delta1 = 0.96/ε, delta2 = 2.7/ε as in privkit."""

    class Inputs:
        epsilon = Port(
            "double", default=0.001, min=0, min_exclusive=True, help="Base privacy per metre."
        )
        window = Port("integer", default=3, min=2, help="Released points used to predict.")
        alpha = Port(
            "double", default=0.1, min=0, min_exclusive=True, help="Factor if predictable."
        )
        beta = Port("double", default=5.0, min=0, min_exclusive=True, help="Factor if not.")
        delta1 = Port("distance", optional=True, min=0, help="Error threshold (0.96/epsilon).")
        delta2 = Port("distance", optional=True, min=0, help="Error threshold (2.7/epsilon).")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy traces.")
        meanEpsilon = Port("double", help="Mean privacy parameter spent per event (0 if none).")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        d1, d2 = inputs.get("delta1"), inputs.get("delta2")
        lat, lng, eps = adaptive_geoind(
            arrays.lat,
            arrays.lng,
            arrays.time,
            arrays.offsets,
            trace_seeds(arrays, ctx),
            float(inputs.get("epsilon", 0.001)),
            window=int(inputs.get("window", 3)),
            alpha=float(inputs.get("alpha", 0.1)),
            beta=float(inputs.get("beta", 5.0)),
            delta1=None if d1 is None else meters(d1),
            delta2=None if d2 is None else meters(d2),
        )
        return {
            "data": take_rows(table, None, lat=lat, lng=lng),
            "meanEpsilon": float(eps.mean()) if len(eps) else 0.0,
        }


@operator(
    help="Geo-indistinguishability that reuses its last output while the user stays nearby.",
    description=(
        "Fresh planar Laplace noise is drawn for the first event of a trace and whenever an "
        "event is farther than `radius` from the event that last drew noise; the events in "
        "between repeat the last released point, so a stay costs epsilon once."
    ),
    unstable=True,
    **_RES,
)
class ClusteringGeoInd:
    """Clustering geo-indistinguishability (Cunha, Mendes, Vilela, ICCCS 2019)."""

    class Inputs:
        epsilon = Port(
            "double", default=0.001, min=0, min_exclusive=True, help="Privacy parameter per metre."
        )
        radius = Port("distance", default="200.meters", min=0, help="Radius of a cluster.")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy traces.")
        freshRate = Port("double", help="Share of events that drew fresh noise (0 if none).")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        lat, lng, fresh = clustering_geoind(
            arrays.lat,
            arrays.lng,
            arrays.offsets,
            trace_seeds(arrays, ctx),
            float(inputs.get("epsilon", 0.001)),
            meters(inputs.get("radius", 200.0)),
        )
        return {
            "data": take_rows(table, None, lat=lat, lng=lng),
            "freshRate": float(fresh.mean()) if len(fresh) else 0.0,
        }


OPERATORS: list[type] = [
    UniformNoise,
    GaussianNoise,
    S2Cloaking,
    GridSnapping,
    KAnonymityCloaking,
    GeoIndRemapping,
    AdaptiveGeoInd,
    ClusteringGeoInd,
]
"""Entry-point target: the mechanisms of this module."""
