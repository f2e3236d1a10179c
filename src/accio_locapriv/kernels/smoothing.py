"""Trace smoothing kernels: Promesse speed smoothing and Gaussian kernel smoothing.

All kernels work on a whole table at once: flat arrays plus per-trace ``offsets`` (trace ``k`` is
rows ``offsets[k]:offsets[k + 1]``, time-ordered). Sequential loops are numba-compiled.

References
----------
V. Primault, S. Ben Mokhtar, C. Lauradoux, L. Brunie, "Time distortion anonymization for the
publication of mobility data with high utility", IEEE TrustCom 2015 (Promesse).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accio_locapriv.kernels.geo import EARTH_RADIUS_M

__all__ = [
    "gaussian_smoothing",
    "gaussian_smoothing_full",
    "promesse",
]

_DEG = math.pi / 180.0


@njit(cache=True)
def _step(ax: float, ay: float, bx: float, by: float, spherical: bool, k: float) -> float:
    """Distance from a to b: planar, or equirectangular in the tangent plane at a (metres)."""
    if spherical:
        dx = (bx - ax) * math.cos(ay * _DEG) * k
        dy = (by - ay) * k
    else:
        dx = bx - ax
        dy = by - ay
    return math.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def _promesse_kernel(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    offsets: np.ndarray,
    alpha: float,
    spherical: bool,
    k: float,
    ox: np.ndarray,
    oy: np.ndarray,
    ot: np.ndarray,
    out_offsets: np.ndarray,
) -> int:
    """Fill ``ox, oy, ot, out_offsets``; returns the number of points, or -1 if out of room."""
    cap = len(ox)
    m = 0
    for tr in range(len(offsets) - 1):
        a = offsets[tr]
        b = offsets[tr + 1]
        start = m
        if b > a:
            # 1. Resample the polyline every alpha metres, starting with its first event.
            if m >= cap:
                return -1
            px = x[a]
            py = y[a]
            ox[m] = px
            oy[m] = py
            ot[m] = t[a]
            m += 1
            for i in range(a + 1, b):
                ex = x[i]
                ey = y[i]
                d = _step(px, py, ex, ey, spherical, k)
                while d >= alpha and d > 0.0:
                    f = alpha / d
                    px = px + f * (ex - px)
                    py = py + f * (ey - py)
                    if m >= cap:
                        return -1
                    ox[m] = px
                    oy[m] = py
                    ot[m] = t[i]
                    m += 1
                    if f >= 1.0:
                        break
                    d = _step(px, py, ex, ey, spherical, k)
        # 2. Drop the first and last emitted points.
        count = m - start
        if count <= 2:
            m = start
        else:
            for j in range(count - 2):
                ox[start + j] = ox[start + j + 1]
                oy[start + j] = oy[start + j + 1]
                ot[start + j] = ot[start + j + 1]
            m = start + count - 2
            # 3. Spread the available time uniformly over the remaining points.
            cnt = m - start
            if cnt > 2:
                t0 = ot[start]
                span = ot[m - 1] - t0
                q = span // (cnt - 1)
                r = span - q * (cnt - 1)
                for i in range(cnt):
                    # ceil(i * span / (cnt - 1)) without overflowing int64.
                    rem = i * r
                    extra = rem // (cnt - 1)
                    if rem - extra * (cnt - 1) > 0:
                        extra += 1
                    ot[start + i] = t0 + i * q + extra
        out_offsets[tr + 1] = m
    return m


def _promesse_capacity(
    x: np.ndarray, y: np.ndarray, offsets: np.ndarray, alpha: float, spherical: bool, k: float
) -> int:
    """An upper bound of the points emitted: each event adds at most ``1 + segment/alpha``."""
    if len(x) < 2:
        return len(x) + 1
    dx = np.diff(x)
    dy = np.diff(y)
    if spherical:
        dx = dx * np.cos(np.radians(np.minimum(np.abs(y[:-1]), np.abs(y[1:])))) * k
        dy = dy * k
    seg = np.hypot(dx, dy)
    between = offsets[1:-1] - 1  # no segment joins two traces
    seg[between[(between >= 0) & (between < len(seg))]] = 0.0
    return int(len(x) + 1.05 * np.sum(seg) / alpha) + 16


def promesse(
    x: np.ndarray,
    y: np.ndarray,
    time_ms: np.ndarray,
    offsets: np.ndarray,
    alpha: float,
    *,
    spherical: bool = True,
    radius: float = EARTH_RADIUS_M,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Promesse speed smoothing of every trace (Primault et al., TrustCom 2015).

    For each trace:

    1. walk the polyline from its first event and emit a point every ``alpha`` metres (the
       first event is emitted; each emitted point carries the time of the event that was being
       approached; events closer than ``alpha`` to the last emitted point are absorbed, which
       erases stops);
    2. drop the first and the last emitted points;
    3. if more than two points remain, respace their times evenly between the first and the last
       remaining time: ``t_i = t_0 + ceil(i·T/(m − 1))`` in milliseconds.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates: degrees of longitude and latitude if ``spherical`` (steps are measured in the
        tangent plane of the last emitted point, so each step is ``alpha`` metres on the ground
        to within about 1e-5 relative), or planar metres (e.g. Mercator) otherwise.
    time_ms : numpy.ndarray
        int64 epoch milliseconds, non-decreasing within each trace.
    offsets : numpy.ndarray
        int64 trace boundaries.
    alpha : float
        Spacing in metres; ``alpha <= 0`` returns the input unchanged.
    spherical : bool, default True
        See ``x, y``.
    radius : float
        Sphere radius in metres when ``spherical``.

    Returns
    -------
    (x, y, time_ms, offsets) : tuple of numpy.ndarray
        The smoothed traces; a trace with fewer than three emitted points becomes empty.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    t = np.ascontiguousarray(time_ms, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if not alpha > 0:
        return x.copy(), y.copy(), t.copy(), offsets.copy()
    k = radius * _DEG
    cap = _promesse_capacity(x, y, offsets, float(alpha), spherical, k)
    out_offsets = np.zeros(len(offsets), dtype=np.int64)
    while True:
        ox, oy, ot = np.empty(cap), np.empty(cap), np.empty(cap, dtype=np.int64)
        m = _promesse_kernel(x, y, t, offsets, float(alpha), spherical, k, ox, oy, ot, out_offsets)
        if m >= 0:
            return ox[:m].copy(), oy[:m].copy(), ot[:m].copy(), out_offsets
        cap *= 2  # the bound is approximate on the sphere; never seen in practice


@njit(cache=True)
def _gaussian_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    t: np.ndarray,
    offsets: np.ndarray,
    omega: float,
    window: float,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(lat)
    out_lat = np.empty(n)
    out_lng = np.empty(n)
    inv = 1.0 / (2.0 * omega * omega)
    for tr in range(len(offsets) - 1):
        a = offsets[tr]
        b = offsets[tr + 1]
        lo = a
        hi = a
        for i in range(a, b):
            ti = t[i]
            while t[lo] < ti - window:
                lo += 1
            while hi < b and t[hi] <= ti + window:
                hi += 1
            # Accumulate relative to point i to keep the sums well conditioned.
            sw = 0.0
            sla = 0.0
            sln = 0.0
            for j in range(lo, hi):
                dt = float(t[j] - ti)
                w = math.exp(-dt * dt * inv)
                sw += w
                sla += w * (lat[j] - lat[i])
                sln += w * (lng[j] - lng[i])
            out_lat[i] = lat[i] + sla / sw
            out_lng[i] = lng[i] + sln / sw
    return out_lat, out_lng


def gaussian_smoothing(
    lat: np.ndarray,
    lng: np.ndarray,
    time_ms: np.ndarray,
    offsets: np.ndarray,
    omega_ms: float,
    *,
    cutoff: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel smoothing of positions over time, within each trace.

    Each point becomes ``Σ_j w_j p_j / Σ_j w_j`` with ``w_j = exp(−(t_i − t_j)² / (2ω²))``. The
    original sums over the whole trace (O(n²)); here the sum is cut at ``|t_i − t_j| ≤ cutoff·ω``
    (relative weight ``exp(−cutoff²/2)``, about 1e-14 for the default 8), which gives the same
    result to floating-point precision in O(n·w).

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees. Averaging degrees is averaging in a local equirectangular plane, since that
        projection is linear in latitude and longitude (the original averaged Mercator
        coordinates; the difference is negligible at city scale). Traces crossing the
        antimeridian are not handled.
    time_ms : numpy.ndarray
        int64 epoch milliseconds, sorted within each trace.
    offsets : numpy.ndarray
        int64 trace boundaries.
    omega_ms : float
        Kernel bandwidth in milliseconds, > 0.
    cutoff : float, default 8
        Window half-width in units of ``omega_ms``.

    Returns
    -------
    (lat, lng) : tuple of numpy.ndarray
        Smoothed degrees.
    """
    if not omega_ms > 0:
        raise ValueError(f"omega must be > 0, got {omega_ms}")
    return _gaussian_kernel(
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lng, dtype=np.float64),
        np.ascontiguousarray(time_ms, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        float(omega_ms),
        float(cutoff) * float(omega_ms),
    )


def gaussian_smoothing_full(
    lat: np.ndarray, lng: np.ndarray, time_ms: np.ndarray, omega_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reference O(n²) Gaussian smoothing of a single trace (the original's formula)."""
    t = np.asarray(time_ms, dtype=np.float64)
    w = np.exp(-((t[:, None] - t[None, :]) ** 2) / (2.0 * omega_ms * omega_ms))
    s = w.sum(axis=1)
    return (w @ np.asarray(lat)) / s, (w @ np.asarray(lng)) / s
