"""Stay-point and POI extraction: the diameter/duration clusterer and repeated-POI clustering.

Kernels work on flat arrays plus per-trace ``offsets`` (trace ``k`` owns rows
``offsets[k]:offsets[k + 1]``, events in time order), never on tables.

Distances are ground metres. Coordinates enter the numba kernels as ``x = R·λ``, ``y = R·φ``
(radians times the mean Earth radius) and ``c = cos φ``; the east-west separation of two events
is ``(x₁ − x₂)·(c₁ + c₂)/2``, so each pair is measured in the equirectangular plane at its own mean
latitude (relative error below 1e-6 for separations under a few kilometres, no trig per pair).
Longitudes wrap at the antimeridian. The same kernels accept plain planar metres with ``c = 1``
and no wrap (``period = 0``), which is how the reference example of the tests is written.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from accio_locapriv.kernels.geo import EARTH_RADIUS_M

__all__ = [
    "Stays",
    "dj_cluster",
    "dt_stays",
    "dt_stays_xy",
    "geo_plane",
    "repeated_pois",
    "stay_centroids",
]

_DEG = math.pi / 180.0
#: Circumference in the ``x = R·λ`` coordinate: the period of longitude wrapping, metres.
_PERIOD = 2.0 * math.pi * EARTH_RADIUS_M


def _writable(a: object, dtype: type) -> np.ndarray:
    """A C-contiguous, writable array (Arrow buffers are read-only, which numba would compile
    a second specialisation for); copies only when needed."""
    return np.require(a, dtype=dtype, requirements=("C", "W"))


class Stays(NamedTuple):
    """Stays (or POIs) found in a set of traces, as parallel arrays.

    Attributes
    ----------
    trace : numpy.ndarray
        int64 trace number (index into the offsets) of every stay, ascending.
    lat, lng : numpy.ndarray
        float64 centroid in degrees: the mean position of the member events.
    start, end : numpy.ndarray
        int64 time of the first and last member event, epoch ms.
    size : numpy.ndarray
        int64 number of member events.
    """

    trace: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    start: np.ndarray
    end: np.ndarray
    size: np.ndarray


def geo_plane(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates for the kernels: ``x = R·λ``, ``y = R·φ`` (metres) and ``c = cos φ``.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees.

    Returns
    -------
    (x, y, c) : tuple of numpy.ndarray
        float64 arrays; use them with ``period = 2πR`` (:data:`_PERIOD`).
    """
    phi = np.asarray(lat, dtype=np.float64) * _DEG
    x = np.asarray(lng, dtype=np.float64) * (_DEG * EARTH_RADIUS_M)
    return x, phi * EARTH_RADIUS_M, np.cos(phi)


@nb.njit(cache=True)
def _dist2(x: np.ndarray, y: np.ndarray, c: np.ndarray, a: int, b: int, period: float) -> float:
    dx: float = x[a] - x[b]
    if period > 0.0:
        half = 0.5 * period
        if dx > half:
            dx -= period
        elif dx < -half:
            dx += period
    dx *= 0.5 * (c[a] + c[b])
    dy: float = y[a] - y[b]
    return dx * dx + dy * dy


@nb.njit(cache=True, nogil=True)
def _dt_ranges(
    x: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    t: np.ndarray,
    offsets: np.ndarray,
    diameter: float,
    min_duration: int,
    period: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = x.shape[0]
    cap = n // 2 + 1  # every stay has at least two events
    s_trace = np.empty(cap, dtype=np.int64)
    s_begin = np.empty(cap, dtype=np.int64)
    s_end = np.empty(cap, dtype=np.int64)
    d2 = diameter * diameter
    # Fast path: an anchor event and a bound ``radius`` on the distance from it to every window
    # event; by the triangle inequality the new event fits if its distance to the anchor plus
    # the radius is at most the diameter. The margin keeps the test conservative for the local
    # plane metric, so results are those of the exhaustive scan.
    safe = diameter * (1.0 - 1e-6)
    count = 0
    for k in range(offsets.shape[0] - 1):
        a = offsets[k]
        b = offsets[k + 1]
        ws = a  # the candidate window is the contiguous range [ws, e)
        anchor = a
        radius = 0.0
        for e in range(a, b):
            if e > ws:
                da = math.sqrt(_dist2(x, y, c, anchor, e, period))
                if da + radius <= safe:
                    radius = max(radius, da)
                    continue  # e joins the window
            # Newest window event farther than the diameter from e, scanning backwards.
            far = -1
            r_new = 0.0
            for j in range(e - 1, ws - 1, -1):
                dj = _dist2(x, y, c, j, e, period)
                if dj > d2:
                    far = j
                    break
                r_new = max(r_new, dj)
            if far < 0:
                # e joins the window; re-anchor on e if that gives a tighter bound.
                r_new = math.sqrt(r_new)
                if e > ws:
                    radius = max(radius, math.sqrt(_dist2(x, y, c, anchor, e, period)))
                if e == ws or r_new < radius:
                    anchor = e
                    radius = r_new
                continue
            if e - ws > 1 and t[e - 1] - t[ws] >= min_duration:
                s_trace[count] = k
                s_begin[count] = ws
                s_end[count] = e
                count += 1
                ws = e
                anchor = e
                radius = 0.0
            else:
                # Dropping the oldest event until e fits keeps the window invalid (it only gets
                # shorter), so this is the same as dropping everything up to ``far`` at once. The
                # scan measured every remaining event from e: anchor there.
                ws = far + 1
                anchor = e
                radius = math.sqrt(r_new)
        if b - ws > 1 and t[b - 1] - t[ws] >= min_duration:
            s_trace[count] = k
            s_begin[count] = ws
            s_end[count] = b
            count += 1
    return s_trace[:count].copy(), s_begin[:count].copy(), s_end[:count].copy()


def dt_stays_xy(
    x: np.ndarray,
    y: np.ndarray,
    time: np.ndarray,
    offsets: np.ndarray,
    diameter: float,
    min_duration: int,
    *,
    c: np.ndarray | None = None,
    period: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diameter/duration stays on planar coordinates, as event ranges.

    Parameters
    ----------
    x, y : numpy.ndarray
        Planar coordinates in metres (float64), events of each trace in time order.
    time : numpy.ndarray
        int64 event times (any unit, the same as ``min_duration``; ms in the library).
    offsets : numpy.ndarray
        int64 trace boundaries, ``n_traces + 1`` entries.
    diameter : float
        Largest distance allowed between any two events of a stay, metres.
    min_duration : int
        Shortest stay: time between its first and last event must be at least this.
    c : numpy.ndarray, optional
        Per-event scale of ``x`` differences (``cos φ`` for :func:`geo_plane` coordinates); the
        default 1 means a true plane.
    period : float, default 0
        Wrap ``x`` differences into ``[-period/2, period/2]``; 0 disables wrapping.

    Returns
    -------
    (trace, begin, end) : tuple of numpy.ndarray
        int64 arrays, one entry per stay: trace number and the event range ``[begin, end)``
        (row numbers into the flat arrays). Stays are contiguous runs of events, in time order.

    Notes
    -----
    The clusterer of Hariharan & Toyama ("Project Lachesis: parsing and modeling location
    histories", GIScience 2004), as used by the original Accio and by movingpandas'
    ``TrajectoryStopDetector``. A candidate window grows while every event in it is within
    ``diameter`` of the new event. When the new event does not fit, the window is emitted if it
    is a stay (at least two events spanning at least ``min_duration``) and a new window starts at
    the new event; otherwise the oldest events are dropped until the new event fits. A final
    window is emitted if it is a stay. Every stay therefore has an exact diameter at most
    ``diameter`` and a duration at least ``min_duration``.

    The exhaustive check costs O(w) per event for a window of w events, which is slow for long,
    densely sampled stays. The kernel keeps an anchor event and a bound on the distance from it
    to every window event; when the new event's distance to the anchor plus that bound is below
    the diameter it fits by the triangle inequality, without a scan. The scan, from the newest
    event backwards, runs only when that test fails, and stops at the first event that is too far.
    The output is that of the exhaustive algorithm (the tests compare the two).
    """
    xa = _writable(x, np.float64)
    ya = _writable(y, np.float64)
    ca = np.ones_like(xa) if c is None else _writable(c, np.float64)
    ta = _writable(time, np.int64)
    off = _writable(offsets, np.int64)
    if not (xa.shape == ya.shape == ca.shape == ta.shape) or off[-1] != xa.shape[0]:
        raise ValueError("x, y, c and time must have the same length, covered by offsets")
    return _dt_ranges(xa, ya, ca, ta, off, float(diameter), int(min_duration), float(period))


def dt_stays(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    offsets: np.ndarray,
    diameter: float,
    min_duration: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diameter/duration stays of geographic traces; see :func:`dt_stays_xy`.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees.
    time : numpy.ndarray
        Epoch milliseconds (int64).
    offsets : numpy.ndarray
        int64 trace boundaries.
    diameter : float
        Metres on the ground.
    min_duration : int
        Milliseconds.

    Returns
    -------
    (trace, begin, end) : tuple of numpy.ndarray
        Trace number and event range ``[begin, end)`` of every stay.
    """
    x, y, c = geo_plane(lat, lng)
    return dt_stays_xy(x, y, time, offsets, diameter, min_duration, c=c, period=_PERIOD)


@nb.njit(cache=True, nogil=True)
def _range_centroids(
    lat: np.ndarray, lng: np.ndarray, begin: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    m = begin.shape[0]
    c_lat = np.empty(m, dtype=np.float64)
    c_lng = np.empty(m, dtype=np.float64)
    for s in range(m):
        a = begin[s]
        b = end[s]
        ref = lng[a]
        s_lat = 0.0
        s_dlng = 0.0
        for i in range(a, b):
            s_lat += lat[i]
            d = lng[i] - ref
            if d > 180.0:
                d -= 360.0
            elif d < -180.0:
                d += 360.0
            s_dlng += d
        c_lat[s] = s_lat / (b - a)
        g = ref + s_dlng / (b - a)
        if g >= 180.0:
            g -= 360.0
        elif g < -180.0:
            g += 360.0
        c_lng[s] = g
    return c_lat, c_lng


def stay_centroids(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    trace: np.ndarray,
    begin: np.ndarray,
    end: np.ndarray,
) -> Stays:
    """Summaries of stays given as event ranges: centroid, first/last time and size.

    The centroid is the mean latitude and the mean longitude (unwrapped around the stay's first
    event) of the member events. The original Accio averaged in its Mercator plane; for stays of
    a few hundred metres the two differ by well under a millimetre.
    """
    begin = np.asarray(begin, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    c_lat, c_lng = _range_centroids(
        _writable(lat, np.float64),
        _writable(lng, np.float64),
        begin,
        end,
    )
    time = np.asarray(time, dtype=np.int64)
    return Stays(
        trace=np.asarray(trace, dtype=np.int64),
        lat=c_lat,
        lng=c_lng,
        start=time[begin] if len(begin) else np.zeros(0, dtype=np.int64),
        end=time[end - 1] if len(end) else np.zeros(0, dtype=np.int64),
        size=end - begin,
    )


@nb.njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@nb.njit(cache=True, nogil=True)
def _dj_labels(
    x: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    offsets: np.ndarray,
    eps: float,
    min_pts: int,
    period: float,
) -> np.ndarray:
    n = x.shape[0]
    parent = np.arange(n)
    member = np.zeros(n, dtype=np.bool_)
    e2 = eps * eps
    for k in range(offsets.shape[0] - 1):
        a = offsets[k]
        b = offsets[k + 1]
        for p in range(a, b):
            count = 0
            for q in range(a, b):
                if _dist2(x, y, c, p, q, period) <= e2:
                    count += 1
            if count < min_pts:
                continue
            # p is a core point: its whole neighbourhood joins p's cluster, merging clusters that
            # share a point (the density-joinable rule).
            member[p] = True
            rp = _find(parent, p)
            for q in range(a, b):
                if q != p and _dist2(x, y, c, p, q, period) <= e2:
                    member[q] = True
                    rq = _find(parent, q)
                    if rq != rp:
                        parent[rq] = rp
    labels = np.full(n, -1, dtype=np.int64)
    for k in range(offsets.shape[0] - 1):
        next_label = 0
        for p in range(offsets[k], offsets[k + 1]):
            if not member[p]:
                continue
            r = _find(parent, p)
            if labels[r] < 0:
                labels[r] = next_label
                next_label += 1
            labels[p] = labels[r]
    return labels


def dj_cluster(
    lat: np.ndarray,
    lng: np.ndarray,
    offsets: np.ndarray,
    eps: float,
    min_pts: int,
) -> np.ndarray:
    """DJ-Cluster (density-joinable clustering) of points, trace by trace.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Degrees.
    offsets : numpy.ndarray
        int64 group boundaries; points of different groups never share a cluster.
    eps : float
        Neighbourhood radius, metres. The neighbourhood of p is every point (p included) within
        ``eps`` of p.
    min_pts : int
        A point whose neighbourhood has at least this many points is a core point.

    Returns
    -------
    numpy.ndarray
        int64 cluster label of every point, numbered from 0 within each group in order of first
        appearance, or -1 for noise.

    Notes
    -----
    Zhou, Frankowski, Ludford, Shekhar, Terveen, "Discovering personal gazetteers: an
    interactive clustering approach", ACM GIS 2004. The neighbourhood of every core point forms a
    cluster, merged with every cluster it shares a point with; points in no core neighbourhood
    are noise. Quadratic in the group size, which is fine for the stays of one trace.
    """
    x, y, c = geo_plane(lat, lng)
    return _dj_labels(x, y, c, _writable(offsets, np.int64), float(eps), int(min_pts), _PERIOD)


def repeated_pois(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    offsets: np.ndarray,
    diameter: float,
    min_duration: int,
    min_points: int,
) -> Stays:
    """POIs that recur: DJ-Cluster over the diameter/duration stays of each trace.

    Parameters
    ----------
    lat, lng, time, offsets
        The traces (degrees, epoch ms, int64 boundaries).
    diameter : float
        Stay diameter, metres; the DJ-Cluster radius is ``diameter / 2``.
    min_duration : int
        Shortest stay, ms.
    min_points : int
        DJ-Cluster's MinPts, counted in stays: a place must be visited by at least this many
        stays within ``diameter / 2`` of one of them.

    Returns
    -------
    Stays
        One POI per cluster, made of all the events of its stays: centroid of those events, first
        and last event time, number of events. Sorted by (trace, start).

    Notes
    -----
    The "repeated POIs" procedure of Primault, Ben Mokhtar, Lauradoux, Brunie ("Differentially
    private location privacy in practice", MoST 2014), as in the original Accio.
    """
    lat = _writable(lat, np.float64)
    lng = _writable(lng, np.float64)
    time = _writable(time, np.int64)
    trace, begin, end = dt_stays(lat, lng, time, offsets, diameter, min_duration)
    stays = stay_centroids(lat, lng, time, trace, begin, end)
    n_traces = len(offsets) - 1
    stay_offsets = np.searchsorted(trace, np.arange(n_traces + 1), side="left").astype(np.int64)
    labels = dj_cluster(stays.lat, stays.lng, stay_offsets, diameter / 2.0, min_points)
    keep = labels >= 0
    if not keep.any():
        empty_i = np.zeros(0, dtype=np.int64)
        return Stays(empty_i, np.zeros(0), np.zeros(0), empty_i, empty_i.copy(), empty_i.copy())
    # One POI per (trace, label): concatenate the event ranges of its stays.
    key_trace = trace[keep]
    key_label = labels[keep]
    order = np.lexsort((begin[keep], key_label, key_trace))
    key_trace, key_label = key_trace[order], key_label[order]
    k_begin, k_end = begin[keep][order], end[keep][order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (key_trace[1:] != key_trace[:-1]) | (key_label[1:] != key_label[:-1])
    group = np.cumsum(new_group) - 1
    n_groups = int(group[-1]) + 1
    lengths = k_end - k_begin
    rows = np.repeat(k_begin - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    rows += np.arange(int(lengths.sum()))
    row_group = np.repeat(group, lengths)
    size = np.bincount(row_group, minlength=n_groups).astype(np.int64)
    p_lat = np.bincount(row_group, weights=lat[rows], minlength=n_groups) / size
    first_lng = lng[k_begin[new_group]]
    d = lng[rows] - first_lng[row_group]
    d = np.where(d > 180.0, d - 360.0, np.where(d < -180.0, d + 360.0, d))
    p_lng = first_lng + np.bincount(row_group, weights=d, minlength=n_groups) / size
    p_lng = np.where(p_lng >= 180.0, p_lng - 360.0, np.where(p_lng < -180.0, p_lng + 360.0, p_lng))
    start = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    stop = np.full(n_groups, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(start, group, time[k_begin])
    np.maximum.at(stop, group, time[k_end - 1])
    poi_trace = key_trace[new_group]
    out_order = np.lexsort((start, poi_trace))
    return Stays(
        trace=poi_trace[out_order],
        lat=p_lat[out_order],
        lng=p_lng[out_order],
        start=start[out_order],
        end=stop[out_order],
        size=size[out_order],
    )
