"""Location-privacy protection mechanisms (LPPMs): geo-indistinguishability and Promesse.

References
----------
M. E. Andrés, N. E. Bordenabe, K. Chatzikokolakis, C. Palamidessi, "Geo-indistinguishability:
differential privacy for location-based systems", CCS 2013.

V. Primault, S. Ben Mokhtar, C. Lauradoux, L. Brunie, "Time distortion anonymization for the
publication of mobility data with high utility", IEEE TrustCom 2015.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accio.ops.api import Port, operator
from accio_locapriv.arrow import TraceArrays, from_arrays, take_rows, to_arrays
from accio_locapriv.kernels.geo import ACCIO_RADIUS_M, from_mercator, to_mercator
from accio_locapriv.kernels.laplace import UNIFORMS_PER_EVENT, apply_noise, apply_noise_seeded
from accio_locapriv.kernels.smoothing import promesse
from accio_locapriv.schema import validate_traces

__all__ = [
    "OPERATORS",
    "GeoIndistinguishability",
    "Promesse",
    "geo_indistinguishability",
    "promesse_mercator",
]

_RES: dict[str, Any] = {"category": "lppm", "cpus": 1, "memory": "2G", "version": "1"}
#: Version 2: the radius reuses the polar method's uniform (see kernels.laplace): a new stream.
_GEOI_RES: dict[str, Any] = {**_RES, "version": "2"}


def geo_indistinguishability(
    arrays: TraceArrays,
    epsilon: float,
    trace_rng: Any,
    *,
    sampler: str = "gamma",
    mode: str = "local",
    trace_seed: Any = None,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Planar Laplace noise on every event, one generator per trace.

    Parameters
    ----------
    arrays : TraceArrays
        The traces.
    epsilon : float
        Privacy parameter per metre (> 0); mean displacement ``2/ε`` metres.
    trace_rng : callable
        ``trace_rng(trace_id) -> numpy.random.Generator``, e.g.
        :meth:`accio.ops.context.OperatorContext.trace_rng`.
    sampler, mode : str
        See :func:`accio_locapriv.kernels.laplace.apply_noise`.
    trace_seed : callable, optional
        ``trace_seed(trace_id) -> int`` (:meth:`~accio.ops.context.OperatorContext.trace_seed`):
        the ``gamma`` path seeds its in-kernel generator with it directly. Without it, the seed is
        one ``integers(2**63)`` draw from ``trace_rng(trace_id)`` (slower: a numpy generator per
        trace).
    threads : int, default 1
        Threads sharing the traces on the ``gamma`` path; the result does not depend on it.

    Returns
    -------
    (lat, lng) : tuple of numpy.ndarray
        Noisy degrees. A trace's noise depends only on its id and the generator it is given,
        never on the other traces or their order.
    """
    k = UNIFORMS_PER_EVENT.get(sampler)
    if k is None:
        raise ValueError(f"unknown sampler {sampler!r}: expected 'gamma' or 'lambertw'")
    if sampler == "gamma":  # the fast path: one seed per trace, uniforms drawn in the kernel
        if trace_seed is None:
            trace_seed = lambda t: int(trace_rng(t).integers(2**63))  # noqa: E731
        seeds = np.fromiter(
            (trace_seed(t) for t in arrays.ids.tolist()), dtype=np.uint64, count=len(arrays.ids)
        )
        return apply_noise_seeded(
            arrays.lat,
            arrays.lng,
            arrays.offsets,
            seeds,
            epsilon,
            mode,  # type: ignore[arg-type]
            threads,
        )
    u = np.empty((arrays.n_events, k))
    for t, trace_id in enumerate(arrays.ids.tolist()):
        a, b = int(arrays.offsets[t]), int(arrays.offsets[t + 1])
        if b > a:
            trace_rng(trace_id).random(out=u[a:b])
    return apply_noise(arrays.lat, arrays.lng, u, epsilon, sampler, mode)  # type: ignore[arg-type]


@operator(
    help="Blur every event with planar Laplace noise (geo-indistinguishability).",
    unstable=True,
    **_GEOI_RES,
)
class GeoIndistinguishability:
    """Add planar Laplace noise of parameter ``epsilon`` (per metre) to every event.

    Each trace draws from its own generator, keyed on the node seed and the trace id, so a trace
    gets the same noise whatever the other traces, their order or the partitioning.

    ``mode = "local"`` (default) applies the displacement on the ground, in each point's tangent
    plane. ``mode = "mercator"`` reproduces the original Accio, which added it in a spherical
    Mercator plane (ground displacement ``r·cos φ``). ``sampler`` picks the Gamma draw (default)
    or the paper's Lambert-W inverse CDF: same law, different streams.
    """

    class Inputs:
        epsilon = Port(
            "double",
            default=0.001,
            min=0,
            min_exclusive=True,
            help="Privacy parameter per metre; the mean displacement is 2/epsilon metres.",
        )
        sampler = Port(
            "string",
            default="gamma",
            choices=("gamma", "lambertw"),
            help="How noise radii are drawn: gamma (fast) or lambertw (the paper's inverse CDF).",
        )
        mode = Port(
            "string",
            default="local",
            choices=("local", "mercator"),
            help="Plane of the noise: local ground metres, or the original's Mercator plane.",
        )
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Noisy traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        lat, lng = geo_indistinguishability(
            arrays,
            float(inputs.get("epsilon", 0.001)),
            ctx.trace_rng,
            sampler=inputs.get("sampler") or "gamma",
            mode=inputs.get("mode") or "local",
            trace_seed=ctx.trace_seed,
        )
        return {"data": take_rows(table, None, lat=lat, lng=lng)}


@operator(help="Hide stops by making every trace move at constant speed (Promesse).", **_RES)
class Promesse:
    """Resample each trace every ``epsilon`` metres and spread its time evenly (speed smoothing).

    Points are emitted every ``epsilon`` metres along the trace, the first and last ones are
    dropped, and the remaining points get evenly spaced timestamps between the first and the last
    remaining time; stops therefore vanish. ``epsilon`` = 0 leaves traces unchanged. Distances
    are ground metres (each step is taken in the tangent plane of the previous point). Output
    events are new points, so extra columns are not carried.
    """

    class Inputs:
        epsilon = Port("distance", min=0, help="Distance between consecutive output points.")
        data = Port("dataset", help="Traces to protect.")

    class Outputs:
        data = Port("dataset", help="Smoothed traces.")

    def run(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        table = validate_traces(inputs["data"])
        arrays = to_arrays(table, validate=False)
        alpha = float(getattr(inputs["epsilon"], "meters", inputs["epsilon"]))
        if not alpha > 0:
            return {"data": table}
        lng, lat, time, offsets = promesse(
            arrays.lng, arrays.lat, arrays.time, arrays.offsets, alpha, spherical=True
        )
        out = TraceArrays(ids=arrays.ids, offsets=offsets, lat=lat, lng=lng, time=time)
        return {"data": from_arrays(out)}


def promesse_mercator(arrays: TraceArrays, alpha: float) -> TraceArrays:
    """Promesse in the original's Mercator plane (R = 6 367 000 m), for comparisons."""
    x, y = to_mercator(arrays.lat, arrays.lng, ACCIO_RADIUS_M)
    x, y, time, offsets = promesse(x, y, arrays.time, arrays.offsets, alpha, spherical=False)
    lat, lng = from_mercator(x, y, ACCIO_RADIUS_M)
    return TraceArrays(ids=arrays.ids, offsets=offsets, lat=lat, lng=lng, time=time)


OPERATORS: list[type] = [GeoIndistinguishability, Promesse]
