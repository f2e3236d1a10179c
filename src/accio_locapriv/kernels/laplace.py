"""Planar Laplace noise, the mechanism of geo-indistinguishability.

References
----------
M. E. Andrés, N. E. Bordenabe, K. Chatzikokolakis, C. Palamidessi, "Geo-indistinguishability:
differential privacy for location-based systems", CCS 2013 (arXiv:1212.1984).

The planar Laplace density centred on ``x0`` is ``ε²/(2π)·exp(−ε·d(x0, x))``. In polar
coordinates the angle is uniform on [0, 2π) and the radius, independent of it, has the CDF
``C_ε(r) = 1 − (1 + εr)·exp(−εr)``: the Gamma law with shape 2 and scale 1/ε (mean 2/ε,
median 1.67835/ε, E[r²] = 6/ε²). ``ε`` is in 1/metre.

Two samplers of the radius give the same law but different streams for one seed:

* ``"gamma"`` (default): ``r = −ln((1 − u₁)(1 − u₂))/ε``, the sum of two independent
  exponential variables, which is exactly Gamma(2, 1/ε) (the Erlang construction). It needs only
  uniform draws and one logarithm, so it runs several times faster than
  ``Generator.standard_gamma``;
* ``"lambertw"``: the paper's inverse CDF ``r = −(W₋₁((p − 1)/e) + 1)/ε`` with Lambert's W on
  its −1 branch (:func:`scipy.special.lambertw`).

Stream layout (what one generator is asked for, per trace of ``n`` events):

* ``gamma`` (the fast path, :func:`apply_noise_seeded`): the trace seed
  ``H(node seed, trace id)`` (decisions.md §9, ``OperatorContext.trace_seed``) seeds a SplitMix64
  stream inside the kernel; per event, pairs of uniforms ``(a, b)`` are drawn until the point
  ``(2a − 1, 2b − 1)`` falls inside the unit disc, whose direction is the noise direction
  (Marsaglia's polar method: no sine or cosine, same uniform law of the angle); its squared norm
  ``q`` is uniform on (0, 1] and independent of the direction, so one more uniform ``u`` gives
  the radius ``r = −ln(q·(1 − u))/ε`` (operator version 2; version 1 drew two fresh uniforms
  for the radius before the direction).
  SplitMix64 (Steele, Lea, Flood, OOPSLA 2014) passes BigCrush and costs about a nanosecond.
* :func:`apply_noise` (both samplers, kept for ``lambertw`` and as a reference): one
  ``Generator.random((n, k))`` call, row ``i`` for event ``i``; with ``gamma`` ``k = 3``
  (``u₁, u₂`` for the radius, the last for the angle ``θ = 2π·u``), with ``lambertw`` ``k = 2``
  (``p`` then the angle).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Literal

import numpy as np
from numba import njit
from scipy.special import lambertw

from accio_locapriv.kernels.geo import (
    ACCIO_RADIUS_M,
    EARTH_RADIUS_M,
    from_mercator,
    offset,
    to_mercator,
)

__all__ = [
    "UNIFORMS_PER_EVENT",
    "Mode",
    "Sampler",
    "apply_noise",
    "apply_noise_seeded",
    "draw_uniforms",
    "inverse_cdf",
    "perturb",
    "polar_noise",
    "radius_cdf",
    "radius_from_uniforms",
    "sample_radius",
]

Sampler = Literal["gamma", "lambertw"]
Mode = Literal["local", "mercator"]

_INV_E = 1.0 / math.e
#: The smallest float at or above the branch point -1/e at which scipy's W_-1 is finite: the
#: float nearest to -1/e lies just below it, where ``lambertw`` returns NaN.
_BRANCH = float(np.nextafter(-_INV_E, 0.0))
_DEG = math.pi / 180.0
_TWO_PI = 2.0 * math.pi

#: Uniform draws consumed per event by each sampler.
UNIFORMS_PER_EVENT: dict[str, int] = {"gamma": 3, "lambertw": 2}


def radius_cdf(r: np.ndarray | float, epsilon: float) -> np.ndarray:
    """CDF of the noise radius, ``C_ε(r) = 1 − (1 + εr)·exp(−εr)`` (``r`` in metres)."""
    er = np.multiply(epsilon, r)
    return 1.0 - (1.0 + er) * np.exp(-er)


def inverse_cdf(p: np.ndarray | float, epsilon: float) -> np.ndarray:
    """Radius with ``C_ε(r) = p``, in metres, from Lambert's W on its −1 branch.

    ``r = −(W₋₁((p − 1)/e) + 1)/ε``. At ``p = 0`` the argument is −1/e, where W₋₁ = −1 and
    ``r = 0``; in floating point ``(p − 1)/e`` lands just below −1/e, where scipy returns NaN, so
    the argument is clamped to the first float above the branch point (locapriv.md §2.1), which
    gives ``r`` ≈ 2e-16/ε. ``p`` must lie in [0, 1).
    """
    arg = np.maximum((np.asarray(p, dtype=np.float64) - 1.0) * _INV_E, _BRANCH)
    w = lambertw(arg, k=-1).real
    return np.asarray(np.maximum(-(w + 1.0) / epsilon, 0.0))


def _check(epsilon: float, sampler: str) -> None:
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if sampler not in UNIFORMS_PER_EVENT:
        raise ValueError(f"unknown sampler {sampler!r}: expected 'gamma' or 'lambertw'")


def draw_uniforms(rng: np.random.Generator, n: int, sampler: Sampler = "gamma") -> np.ndarray:
    """The uniforms of ``n`` events, shape ``(n, k)`` (see the module's stream layout)."""
    _check(1.0, sampler)
    return rng.random((n, UNIFORMS_PER_EVENT[sampler]))


def radius_from_uniforms(u: np.ndarray, epsilon: float, sampler: Sampler = "gamma") -> np.ndarray:
    """Radii in metres from the uniforms of :func:`draw_uniforms`."""
    _check(epsilon, sampler)
    if sampler == "gamma":
        return -np.log((1.0 - u[:, 0]) * (1.0 - u[:, 1])) / epsilon
    return inverse_cdf(u[:, 0], epsilon)


def sample_radius(
    rng: np.random.Generator, n: int, epsilon: float, sampler: Sampler = "gamma"
) -> np.ndarray:
    """Draw ``n`` noise radii in metres for privacy parameter ``epsilon`` (1/metre).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (never the global state).
    n : int
        Number of radii.
    epsilon : float
        Privacy parameter, > 0, per metre.
    sampler : {"gamma", "lambertw"}
        Gamma(2, 1/ε) through two exponentials, or the paper's inverse CDF.
    """
    _check(epsilon, sampler)
    return radius_from_uniforms(draw_uniforms(rng, n, sampler), epsilon, sampler)


def polar_noise(
    rng: np.random.Generator, n: int, epsilon: float, sampler: Sampler = "gamma"
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` planar Laplace displacements ``(dx, dy)`` in metres."""
    u = draw_uniforms(rng, n, sampler)
    r = radius_from_uniforms(u, epsilon, sampler)
    theta = u[:, -1] * _TWO_PI
    return r * np.cos(theta), r * np.sin(theta)


def perturb(
    lat: np.ndarray,
    lng: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    mode: Mode = "local",
) -> tuple[np.ndarray, np.ndarray]:
    """Apply planar displacements (metres) to points given in degrees.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees.
    dx, dy : numpy.ndarray
        Displacement east and north, metres.
    mode : {"local", "mercator"}
        ``"local"`` (default) moves each point in its own tangent plane on the mean sphere, so
        the ground displacement is the drawn one. ``"mercator"`` reproduces the original Accio:
        the displacement is added in its spherical Mercator plane (R = 6 367 000 m), which
        shrinks it on the ground by ``cos φ`` (about 0.77 at Beijing).

    Returns
    -------
    (lat, lng) : tuple of numpy.ndarray
        Degrees; latitude within [-90, 90], longitude in [-180, 180).
    """
    if mode == "local":
        return offset(lat, lng, dx, dy, EARTH_RADIUS_M)
    if mode == "mercator":
        x, y = to_mercator(lat, lng, ACCIO_RADIUS_M)
        return from_mercator(x + dx, y + dy, ACCIO_RADIUS_M)
    raise ValueError(f"unknown mode {mode!r}: expected 'local' or 'mercator'")


@njit(cache=True, inline="always")
def _displace(lat: float, lng: float, dx: float, dy: float, mercator: bool) -> tuple[float, float]:
    """A point moved ``dx`` m east and ``dy`` m north: on the ground (its tangent plane), or in
    the original's Mercator plane; latitude clamped, longitude wrapped to [-180, 180)."""
    if mercator:
        x = ACCIO_RADIUS_M * lng * _DEG + dx
        y = ACCIO_RADIUS_M * math.log(math.tan(math.pi / 4.0 + lat * _DEG * 0.5)) + dy
        la = (2.0 * math.atan(math.exp(y / ACCIO_RADIUS_M)) - math.pi / 2.0) / _DEG
        ln = x / ACCIO_RADIUS_M / _DEG
    else:
        la = lat + dy / (EARTH_RADIUS_M * _DEG)
        c = max(math.cos(lat * _DEG), 1e-12)
        ln = lng + dx / (EARTH_RADIUS_M * _DEG * c)
    if ln >= 180.0 or ln < -180.0:
        ln = (ln + 180.0) % 360.0 - 180.0
    return min(max(la, -90.0), 90.0), ln


@njit(cache=True)
def _apply_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    u: np.ndarray,
    r_pre: np.ndarray,
    epsilon: float,
    erlang: bool,
    mercator: bool,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(lat)
    out_lat = np.empty(n)
    out_lng = np.empty(n)
    last = u.shape[1] - 1
    for i in range(n):
        r = -math.log((1.0 - u[i, 0]) * (1.0 - u[i, 1])) / epsilon if erlang else r_pre[i]
        theta = u[i, last] * _TWO_PI
        dx = r * math.cos(theta)
        dy = r * math.sin(theta)
        out_lat[i], out_lng[i] = _displace(lat[i], lng[i], dx, dy, mercator)
    return out_lat, out_lng


def apply_noise(
    lat: np.ndarray,
    lng: np.ndarray,
    u: np.ndarray,
    epsilon: float,
    sampler: Sampler = "gamma",
    mode: Mode = "local",
) -> tuple[np.ndarray, np.ndarray]:
    """Planar Laplace noise applied to points, from pre-drawn uniforms (fused numba kernel).

    Same result as :func:`perturb` on the displacements of :func:`polar_noise` for the same
    uniforms, in one pass.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees, ``n`` events.
    u : numpy.ndarray
        ``(n, k)`` uniforms in [0, 1) laid out as :func:`draw_uniforms` returns them.
    epsilon : float
        Privacy parameter, > 0, per metre.
    sampler : {"gamma", "lambertw"}
        How radii are derived from ``u``.
    mode : {"local", "mercator"}
        See :func:`perturb`.
    """
    _check(epsilon, sampler)
    if mode not in ("local", "mercator"):
        raise ValueError(f"unknown mode {mode!r}: expected 'local' or 'mercator'")
    u = np.ascontiguousarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape != (len(lat), UNIFORMS_PER_EVENT[sampler]):
        raise ValueError(f"u must have shape ({len(lat)}, {UNIFORMS_PER_EVENT[sampler]})")
    erlang = sampler == "gamma"
    r_pre = np.zeros(0) if erlang else inverse_cdf(u[:, 0], epsilon)
    return _apply_kernel(
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lng, dtype=np.float64),
        u,
        r_pre,
        float(epsilon),
        erlang,
        mode == "mercator",
    )


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _splitmix(state: np.uint64) -> tuple[np.uint64, float]:
    """Next SplitMix64 state and a uniform double in [0, 1) from its top 53 bits."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    # The top 53 bits fit an int64, whose conversion to double is one instruction (uint64's is not).
    return state, float(np.int64(z >> np.uint64(11))) * _TO_UNIT


@njit(cache=True, nogil=True)
def _seeded_kernel(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    inv_epsilon: float,
    mercator: bool,
    first: int,
    last: int,
    out_lat: np.ndarray,
    out_lng: np.ndarray,
) -> None:
    """Noise of traces ``first`` to ``last - 1`` written into ``out_*`` (GIL released)."""
    for t in range(first, last):
        state = np.uint64(seeds[t])
        for i in range(offsets[t], offsets[t + 1]):
            while True:  # a uniform direction without trigonometry (Marsaglia's polar method)
                state, a = _splitmix(state)
                state, b = _splitmix(state)
                x = 2.0 * a - 1.0
                y = 2.0 * b - 1.0
                q = x * x + y * y
                if 0.0 < q <= 1.0:
                    break
            # q is itself uniform on (0, 1] and independent of the direction: -ln q is the first
            # exponential of the Erlang radius, -ln(1 - u) the second.
            state, u = _splitmix(state)
            scale = -math.log(q * (1.0 - u)) * inv_epsilon / math.sqrt(q)
            out_lat[i], out_lng[i] = _displace(lat[i], lng[i], x * scale, y * scale, mercator)


def _chunks(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Trace ranges ``[first, last)`` of about equal event counts, at most ``parts`` of them."""
    n_traces = len(offsets) - 1
    if parts <= 1 or n_traces <= 1:
        return [(0, n_traces)]
    targets = np.linspace(0, offsets[-1], parts + 1)[1:-1]
    cuts = np.unique(np.searchsorted(offsets[1:], targets, side="left") + 1)
    bounds = [0, *(int(c) for c in cuts if 0 < c < n_traces), n_traces]
    return list(pairwise(bounds))


def apply_noise_seeded(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    epsilon: float,
    mode: Mode = "local",
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Planar Laplace noise (Gamma radius), each trace from its own 64-bit seed, in one pass.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees, ``n`` events, traces contiguous.
    offsets : numpy.ndarray
        Trace boundaries, ``len = n_traces + 1``.
    seeds : numpy.ndarray
        One seed per trace (see the module's stream layout).
    epsilon : float
        Privacy parameter, > 0, per metre.
    mode : {"local", "mercator"}
        See :func:`perturb`.
    threads : int, default 1
        Threads sharing the traces (the kernel releases the GIL). Each trace has its own stream,
        so the result is the same for every thread count.
    """
    _check(epsilon, "gamma")
    if mode not in ("local", "mercator"):
        raise ValueError(f"unknown mode {mode!r}: expected 'local' or 'mercator'")
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lng = np.ascontiguousarray(lng, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    out_lat = np.empty(len(lat))
    out_lng = np.empty(len(lat))
    args = (lat, lng, offsets, seeds, 1.0 / float(epsilon), mode == "mercator")
    chunks = _chunks(offsets, threads)
    if len(chunks) == 1:
        _seeded_kernel(*args, *chunks[0], out_lat, out_lng)
    else:
        with ThreadPoolExecutor(len(chunks)) as pool:  # as kernels.s2.cell_ids does
            list(pool.map(lambda c: _seeded_kernel(*args, *c, out_lat, out_lng), chunks))
    return out_lat, out_lng
