"""Per-trace seeded noise kernels beyond planar Laplace: uniform disc, Gaussian, adaptive and
clustering geo-indistinguishability.

Every kernel runs over traces ``t`` (rows ``offsets[t]:offsets[t + 1]``), each with its own
SplitMix64 stream seeded by ``seeds[t]`` (the trace seed ``H(node seed, trace id)``, decisions.md
§9), exactly like :func:`accio_locapriv.kernels.laplace.apply_noise_seeded`, so a trace's output
depends only on its id, the node seed and its own events, never on the other traces, their order
or the number of threads or processes. Displacements are applied on the ground (each point's
tangent plane, mean Earth radius) or, with ``mercator``, in the original Accio's Mercator plane.

Laws (displacements in metres):

* **uniform disc** of radius ``R``: Marsaglia's polar rejection point ``(x, y)``, uniform in the
  unit disc, scaled by ``R``: the radius has the CDF ``(r/R)²``, mean ``2R/3``, and the angle is
  uniform;
* **Gaussian** ``N(0, σ²)`` per axis: the polar method of Marsaglia and Bray (1964),
  ``(x, y)·σ·√(−2 ln q / q)`` with ``q = x² + y²``; the radius is Rayleigh(σ), mean ``σ√(π/2)``;
* **planar Laplace** (Andrés et al., CCS 2013): the polar point's direction and the Erlang radius
  ``−ln(q·(1 − u))/ε`` of :mod:`accio_locapriv.kernels.laplace` (same stream layout).

References
----------
G. Marsaglia, T. A. Bray, "A convenient method for generating normal variables", SIAM Review 6(3),
1964. J. Krumm, "Inference attacks on location tracks", Pervasive 2007 (noise and rounding
baselines). R. Al-Dhubhani, J. M. Cazalas, "An adaptive geo-indistinguishability mechanism for
continuous LBS queries", Wireless Networks 24(8), 2018. R. Cunha, R. Mendes, J. P. Vilela,
"Clustering geo-indistinguishability for privacy of continuous location traces", ICCCS 2019.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from accio_locapriv.kernels.geo import EARTH_RADIUS_M
from accio_locapriv.kernels.laplace import _chunks, _displace, _splitmix

__all__ = ["adaptive_geoind", "clustering_geoind", "seeded_noise"]

_DEG = math.pi / 180.0
_M_PER_DEG = EARTH_RADIUS_M * _DEG

#: Laws of :func:`seeded_noise`.
LAWS = {"disc": 0, "gaussian": 1, "laplace": 2}


@njit(cache=True, inline="always")
def _polar(state: np.uint64) -> tuple[np.uint64, float, float, float]:
    """A point uniform in the unit disc (rejection from the square), and its squared norm."""
    while True:
        state, a = _splitmix(state)
        state, b = _splitmix(state)
        x = 2.0 * a - 1.0
        y = 2.0 * b - 1.0
        q = x * x + y * y
        if 0.0 < q <= 1.0:
            return state, x, y, q


@njit(cache=True, inline="always")
def _draw(state: np.uint64, law: int, scale: float) -> tuple[np.uint64, float, float]:
    """One displacement (metres) of the given law; ``scale`` is R, σ or 1/ε."""
    state, x, y, q = _polar(state)
    if law == 0:
        f = scale
    elif law == 1:
        f = scale * math.sqrt(-2.0 * math.log(q) / q)
    else:
        state, u = _splitmix(state)
        f = -math.log(q * (1.0 - u)) * scale / math.sqrt(q)
    return state, x * f, y * f


@njit(cache=True, nogil=True)
def _noise_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    law: int,
    scale: float,
    mercator: bool,
    first: int,
    last: int,
    out_lat: np.ndarray,
    out_lng: np.ndarray,
) -> None:
    for t in range(first, last):
        state = np.uint64(seeds[t])
        for i in range(offsets[t], offsets[t + 1]):
            state, dx, dy = _draw(state, law, scale)
            out_lat[i], out_lng[i] = _displace(lat[i], lng[i], dx, dy, mercator)


def _prepare(
    lat: np.ndarray, lng: np.ndarray, offsets: np.ndarray, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lng, dtype=np.float64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        np.ascontiguousarray(seeds, dtype=np.uint64),
    )


def seeded_noise(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    law: str,
    scale: float,
    *,
    mercator: bool = False,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Independent noise on every event, each trace from its own 64-bit seed, in one pass.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees, traces contiguous.
    offsets : numpy.ndarray
        Trace boundaries (``n_traces + 1`` entries).
    seeds : numpy.ndarray
        One seed per trace.
    law : {"disc", "gaussian", "laplace"}
        Uniform in a disc of radius ``scale`` metres; ``N(0, scale²)`` per axis (metres); planar
        Laplace with ``ε = 1/scale``.
    scale : float
        Radius, standard deviation or ``1/ε``, metres (> 0).
    mercator : bool, default False
        Add the displacement in the original's Mercator plane instead of on the ground.
    threads : int, default 1
        Threads sharing the traces; the result does not depend on it.

    Returns
    -------
    (lat, lng) : tuple of numpy.ndarray
        Noisy degrees.
    """
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}: expected one of {sorted(LAWS)}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    lat, lng, offsets, seeds = _prepare(lat, lng, offsets, seeds)
    out_lat = np.empty(len(lat))
    out_lng = np.empty(len(lat))
    args = (lat, lng, offsets, seeds, LAWS[law], float(scale), bool(mercator))
    chunks = _chunks(offsets, threads)
    if len(chunks) == 1:
        _noise_kernel(*args, *chunks[0], out_lat, out_lng)
    else:
        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda c: _noise_kernel(*args, *c, out_lat, out_lng), chunks))
    return out_lat, out_lng


@njit(cache=True, nogil=True)
def _adaptive_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    epsilon: float,
    window: int,
    alpha: float,
    beta: float,
    delta1: float,
    delta2: float,
    out_lat: np.ndarray,
    out_lng: np.ndarray,
    out_eps: np.ndarray,
) -> None:
    for t in range(offsets.shape[0] - 1):
        state = np.uint64(seeds[t])
        a0 = offsets[t]
        for i in range(a0, offsets[t + 1]):
            eps = epsilon
            m = min(window, i - a0)
            if m >= 2:
                # Least-squares line through the last m released points, in metres east/north of
                # the true point and seconds from its time, evaluated at the true point's time.
                c = max(math.cos(lat[i] * _DEG), 1e-12)
                st = 0.0
                sx = 0.0
                sy = 0.0
                for k in range(i - m, i):
                    st += (time[k] - time[i]) * 1e-3
                    sx += (out_lng[k] - lng[i]) * _M_PER_DEG * c
                    sy += (out_lat[k] - lat[i]) * _M_PER_DEG
                mt = st / m
                mx = sx / m
                my = sy / m
                vt = 0.0
                cx = 0.0
                cy = 0.0
                for k in range(i - m, i):
                    dt = (time[k] - time[i]) * 1e-3 - mt
                    vt += dt * dt
                    cx += dt * ((out_lng[k] - lng[i]) * _M_PER_DEG * c - mx)
                    cy += dt * ((out_lat[k] - lat[i]) * _M_PER_DEG - my)
                px = mx
                py = my
                if vt > 0.0:  # intercept at t = 0 (the true point's time)
                    px = mx - cx / vt * mt
                    py = my - cy / vt * mt
                err = math.sqrt(px * px + py * py)
                if err < delta1:
                    eps = alpha * epsilon
                elif err > delta2:
                    eps = beta * epsilon
            state, dx, dy = _draw(state, 2, 1.0 / eps)
            out_lat[i], out_lng[i] = _displace(lat[i], lng[i], dx, dy, False)
            out_eps[i] = eps


def adaptive_geoind(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    epsilon: float,
    *,
    window: int = 3,
    alpha: float = 0.1,
    beta: float = 5.0,
    delta1: float | None = None,
    delta2: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive geo-indistinguishability (Al-Dhubhani & Cazalas, Wireless Networks 2018).

    For each event, the attacker's estimate of the current location is the linear regression on
    time of the last ``window`` *released* points, evaluated at the event's time. Let ``e`` be its
    distance to the true point: a predictable point (``e < delta1``) is released with
    ``α·ε`` (more noise), an unpredictable one (``e > delta2``) with ``β·ε`` (less noise),
    otherwise with ``ε``. The first two events of a trace use ``ε``.

    Parameters
    ----------
    lat, lng, time : numpy.ndarray
        Degrees and epoch milliseconds, traces contiguous and time-ordered.
    offsets, seeds : numpy.ndarray
        Trace boundaries and one seed per trace.
    epsilon : float
        Base privacy parameter, per metre (> 0).
    window : int, default 3
        Released points used by the prediction (≥ 2).
    alpha, beta : float, default 0.1, 5
        Factors of ε for predictable and unpredictable points (privkit's defaults).
    delta1, delta2 : float, optional
        Error thresholds in metres, default ``0.96/ε`` and ``2.7/ε`` (privkit's defaults).

    Returns
    -------
    (lat, lng, eps) : tuple of numpy.ndarray
        Released degrees and the ε (per metre) spent on every event.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if window < 2 or not alpha > 0 or not beta > 0:
        raise ValueError("window must be >= 2, alpha and beta > 0")
    d1 = 0.96 / epsilon if delta1 is None else float(delta1)
    d2 = 2.7 / epsilon if delta2 is None else float(delta2)
    lat, lng, offsets, seeds = _prepare(lat, lng, offsets, seeds)
    n = len(lat)
    out_lat, out_lng, out_eps = np.empty(n), np.empty(n), np.empty(n)
    _adaptive_kernel(
        lat,
        lng,
        np.ascontiguousarray(time, dtype=np.int64),
        offsets,
        seeds,
        float(epsilon),
        int(window),
        float(alpha),
        float(beta),
        d1,
        d2,
        out_lat,
        out_lng,
        out_eps,
    )
    return out_lat, out_lng, out_eps


@njit(cache=True, nogil=True)
def _clustering_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    inv_epsilon: float,
    radius: float,
    out_lat: np.ndarray,
    out_lng: np.ndarray,
    fresh: np.ndarray,
) -> None:
    for t in range(offsets.shape[0] - 1):
        state = np.uint64(seeds[t])
        a_lat = 0.0
        a_lng = 0.0
        z_lat = 0.0
        z_lng = 0.0
        for i in range(offsets[t], offsets[t + 1]):
            new = i == offsets[t]
            if not new:
                c = max(math.cos(0.5 * (lat[i] + a_lat) * _DEG), 1e-12)
                dx = (lng[i] - a_lng) * _M_PER_DEG * c
                dy = (lat[i] - a_lat) * _M_PER_DEG
                new = dx * dx + dy * dy > radius * radius
            if new:
                state, dx, dy = _draw(state, 2, inv_epsilon)
                z_lat, z_lng = _displace(lat[i], lng[i], dx, dy, False)
                a_lat = lat[i]
                a_lng = lng[i]
            out_lat[i] = z_lat
            out_lng[i] = z_lng
            fresh[i] = new


def clustering_geoind(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    epsilon: float,
    radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustering geo-indistinguishability (Cunha, Mendes, Vilela, ICCCS 2019).

    A trace's first event gets fresh planar Laplace noise and becomes the anchor of a cluster.
    Each following event within ``radius`` metres (equirectangular) of the anchor repeats the
    last released point; the first one farther away gets fresh noise and becomes the new anchor.
    A stay therefore costs ε once instead of once per report.

    Returns
    -------
    (lat, lng, fresh) : tuple of numpy.ndarray
        Released degrees, and a boolean per event: whether it drew fresh noise.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    lat, lng, offsets, seeds = _prepare(lat, lng, offsets, seeds)
    n = len(lat)
    out_lat, out_lng, fresh = np.empty(n), np.empty(n), np.zeros(n, dtype=np.bool_)
    _clustering_kernel(
        lat, lng, offsets, seeds, 1.0 / float(epsilon), float(radius), out_lat, out_lng, fresh
    )
    return out_lat, out_lng, fresh
