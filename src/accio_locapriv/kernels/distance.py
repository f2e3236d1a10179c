"""Distances from the events of one trace to another trace, for the distortion metrics.

* :func:`nearest_distances` - for each test event, the ground distance to the nearest reference
  event (``interpolate=False``) or to the nearest point of the reference polyline
  (``interpolate=True``, straight segments between consecutive events).
* :func:`spatiotemporal_distances` - for each event of one trace, the distance to where the
  other trace is at the same instant, by linear interpolation in time, clamped at its ends.

Both take traces as flat arrays and work on many (reference, test) pairs at once: pair ``p`` is
reference rows ``ref_start[p]:ref_end[p]`` against test rows ``test_start[p]:test_end[p]``.

The nearest search runs in a local equirectangular plane per pair (reference latitude: the
reference trace's mean), in a balanced bounding-box tree over the reference points or segments,
starting from the previous test event's answer (consecutive events are close). The reported distance is then the haversine distance (mean Earth radius) between the
test event and the chosen reference location, so it is in true ground metres; choosing that
location in the plane has a relative error below 0.1 % within 10 km.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from accio_locapriv.kernels.geo import EARTH_RADIUS_M, haversine_nb

__all__ = ["nearest_distances", "spatiotemporal_distances"]

_DEG = math.pi / 180.0


def _writable(a: object, dtype: type) -> np.ndarray:
    """A C-contiguous, writable array (Arrow buffers are read-only, which numba would compile
    a second specialisation for); copies only when needed."""
    return np.require(a, dtype=dtype, requirements=("C", "W"))


@nb.njit(cache=True)
def _wrap_deg(d: float) -> float:
    if d > 180.0:
        return d - 360.0
    if d < -180.0:
        return d + 360.0
    return d


_LEAF = 8


@nb.njit(cache=True, nogil=True)
def _select(keys: np.ndarray, idx: np.ndarray, k: int) -> None:
    """Reorder ``keys`` and ``idx`` together so that ``keys[k]`` is the k-th smallest key, with
    smaller or equal keys before it and greater or equal keys after it (quickselect)."""
    lo = 0
    hi = keys.shape[0] - 1
    while hi > lo:
        mid = (lo + hi) // 2
        # Median of three as the pivot.
        a = keys[lo]
        b = keys[mid]
        c = keys[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i = lo
        j = hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                keys[i], keys[j] = keys[j], keys[i]
                idx[i], idx[j] = idx[j], idx[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@nb.njit(cache=True, nogil=True)
def _build_tree(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """A balanced bounding-box tree over items with boxes ``[x0, x1] × [y0, y1]``.

    Node ``v`` has children ``2v + 1`` and ``2v + 2`` and covers the items ``perm[lo:hi]``; a
    node with at most ``_LEAF`` items is a leaf. Returns ``(perm, ranges, boxes, leaf, depth)``
    where ``ranges[v] = (lo, hi)`` and ``boxes[v] = (x0, y0, x1, y1)``.
    """
    n = x0.shape[0]
    depth = 0
    size = n
    while size > _LEAF:
        size = (size + 1) // 2
        depth += 1
    n_nodes = (1 << (depth + 1)) - 1
    perm = np.arange(n)
    ranges = np.zeros((n_nodes, 2), dtype=np.int64)
    boxes = np.empty((n_nodes, 4))
    leaf = np.zeros(n_nodes, dtype=np.bool_)
    stack = np.empty((2 * depth + 4, 3), dtype=np.int64)
    stack[0, 0] = 0
    stack[0, 1] = 0
    stack[0, 2] = n
    top = 1
    while top > 0:
        top -= 1
        v = stack[top, 0]
        lo = stack[top, 1]
        hi = stack[top, 2]
        ranges[v, 0] = lo
        ranges[v, 1] = hi
        bx0 = np.inf
        by0 = np.inf
        bx1 = -np.inf
        by1 = -np.inf
        for s in range(lo, hi):
            k = perm[s]
            bx0 = min(bx0, x0[k])
            by0 = min(by0, y0[k])
            bx1 = max(bx1, x1[k])
            by1 = max(by1, y1[k])
        boxes[v, 0] = bx0
        boxes[v, 1] = by0
        boxes[v, 2] = bx1
        boxes[v, 3] = by1
        if hi - lo <= _LEAF:
            leaf[v] = True
            continue
        # Split at the median of the item centres along the wider side.
        keys = np.empty(hi - lo)
        if bx1 - bx0 >= by1 - by0:
            for s in range(lo, hi):
                keys[s - lo] = x0[perm[s]] + x1[perm[s]]
        else:
            for s in range(lo, hi):
                keys[s - lo] = y0[perm[s]] + y1[perm[s]]
        mid = (lo + hi + 1) // 2
        sub = np.empty(hi - lo, dtype=np.int64)
        for s in range(lo, hi):
            sub[s - lo] = perm[s]
        _select(keys, sub, mid - lo)
        for s in range(lo, hi):
            perm[s] = sub[s - lo]
        stack[top, 0] = 2 * v + 1
        stack[top, 1] = lo
        stack[top, 2] = mid
        stack[top + 1, 0] = 2 * v + 2
        stack[top + 1, 1] = mid
        stack[top + 1, 2] = hi
        top += 2
    return perm, ranges, boxes, leaf, depth


@nb.njit(cache=True)
def _box_dist2(boxes: np.ndarray, v: int, qx: float, qy: float) -> float:
    dx: float = max(boxes[v, 0] - qx, 0.0, qx - boxes[v, 2])
    dy: float = max(boxes[v, 1] - qy, 0.0, qy - boxes[v, 3])
    return dx * dx + dy * dy


@nb.njit(cache=True)
def _item_dist2(
    rx: np.ndarray,
    ry: np.ndarray,
    seg: bool,
    i: int,
    t0: float,
    t1: float,
    qx: float,
    qy: float,
) -> tuple[float, float]:
    """Squared distance from q to item i (a point, or the part [t0, t1] of segment i), and t."""
    if not seg:
        ex = rx[i] - qx
        ey = ry[i] - qy
        return ex * ex + ey * ey, 0.0
    dx = rx[i + 1] - rx[i]
    dy = ry[i + 1] - ry[i]
    ll = dx * dx + dy * dy
    t = 0.0
    if ll > 0.0:
        t = ((qx - rx[i]) * dx + (qy - ry[i]) * dy) / ll
    t = min(max(t, t0), t1)
    ex = rx[i] + t * dx - qx
    ey = ry[i] + t * dy - qy
    return ex * ex + ey * ey, t


@nb.njit(cache=True, nogil=True)
def _pair_nearest(
    r_lat: np.ndarray,
    r_lng: np.ndarray,
    q_lat: np.ndarray,
    q_lng: np.ndarray,
    interpolate: bool,
    out: np.ndarray,
) -> None:
    m = r_lat.shape[0]
    nq = q_lat.shape[0]
    # Local plane around the reference trace.
    lat0 = 0.0
    for i in range(m):
        lat0 += r_lat[i]
    lat0 /= m
    lng0 = r_lng[0]
    kx = EARTH_RADIUS_M * _DEG * math.cos(lat0 * _DEG)
    ky = EARTH_RADIUS_M * _DEG
    rx = np.empty(m)
    ry = np.empty(m)
    for i in range(m):
        rx[i] = _wrap_deg(r_lng[i] - lng0) * kx
        ry[i] = (r_lat[i] - lat0) * ky
    # Items: the reference points, or its segments cut into pieces of at most four times the
    # mean segment length (long gaps would otherwise make large, poorly pruned boxes). A piece is
    # (segment i, parameter range [t0, t1] along it).
    seg = interpolate and m > 1
    if seg:
        total = 0.0
        for i in range(m - 1):
            total += math.hypot(rx[i + 1] - rx[i], ry[i + 1] - ry[i])
        piece = max(4.0 * total / (m - 1), 1.0)
        n_items = 0
        for i in range(m - 1):
            n_items += max(1, math.ceil(math.hypot(rx[i + 1] - rx[i], ry[i + 1] - ry[i]) / piece))
    else:
        n_items = m
    it_seg = np.empty(n_items, dtype=np.int64)
    it_t0 = np.zeros(n_items)
    it_t1 = np.zeros(n_items)
    x0 = np.empty(n_items)
    y0 = np.empty(n_items)
    x1 = np.empty(n_items)
    y1 = np.empty(n_items)
    if seg:
        k = 0
        for i in range(m - 1):
            dx = rx[i + 1] - rx[i]
            dy = ry[i + 1] - ry[i]
            pieces = max(1, math.ceil(math.hypot(dx, dy) / piece))
            for p in range(pieces):
                t0 = p / pieces
                t1 = (p + 1) / pieces
                it_seg[k] = i
                it_t0[k] = t0
                it_t1[k] = t1
                ax = rx[i] + t0 * dx
                bx = rx[i] + t1 * dx
                ay = ry[i] + t0 * dy
                by = ry[i] + t1 * dy
                x0[k] = min(ax, bx)
                x1[k] = max(ax, bx)
                y0[k] = min(ay, by)
                y1[k] = max(ay, by)
                k += 1
    else:
        for i in range(m):
            it_seg[i] = i
            x0[i] = rx[i]
            x1[i] = rx[i]
            y0[i] = ry[i]
            y1[i] = ry[i]
    perm, ranges, boxes, leaf, depth = _build_tree(x0, y0, x1, y1)
    stack = np.empty(2 * depth + 4, dtype=np.int64)
    last = perm[0]
    for qi in range(nq):
        qx = _wrap_deg(q_lng[qi] - lng0) * kx
        qy = (q_lat[qi] - lat0) * ky
        # Consecutive events are usually close: start from the previous answer's item.
        best, best_t = _item_dist2(rx, ry, seg, it_seg[last], it_t0[last], it_t1[last], qx, qy)
        best_k = last
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            v = stack[top]
            if _box_dist2(boxes, v, qx, qy) >= best:
                continue
            if leaf[v]:
                for s in range(ranges[v, 0], ranges[v, 1]):
                    k = perm[s]
                    d2, t = _item_dist2(rx, ry, seg, it_seg[k], it_t0[k], it_t1[k], qx, qy)
                    if d2 < best:
                        best = d2
                        best_t = t
                        best_k = k
                continue
            a = 2 * v + 1
            b = 2 * v + 2
            da = _box_dist2(boxes, a, qx, qy)
            db = _box_dist2(boxes, b, qx, qy)
            if da > db:
                a, b = b, a
                da, db = db, da
            # Push the farther child first so that the nearer one is explored first.
            if db < best:
                stack[top] = b
                top += 1
            if da < best:
                stack[top] = a
                top += 1
        last = best_k
        i = it_seg[best_k]
        if seg:
            la = r_lat[i] + best_t * (r_lat[i + 1] - r_lat[i])
            lo = r_lng[i] + best_t * _wrap_deg(r_lng[i + 1] - r_lng[i])
        else:
            la = r_lat[i]
            lo = r_lng[i]
        out[qi] = haversine_nb(q_lat[qi], q_lng[qi], la, lo, EARTH_RADIUS_M)


@nb.njit(cache=True, nogil=True)
def _nearest_pairs(
    lat: np.ndarray,
    lng: np.ndarray,
    ref_start: np.ndarray,
    ref_end: np.ndarray,
    q_lat: np.ndarray,
    q_lng: np.ndarray,
    test_start: np.ndarray,
    test_end: np.ndarray,
    interpolate: bool,
    out: np.ndarray,
) -> None:
    for p in range(ref_start.shape[0]):
        a = test_start[p]
        b = test_end[p]
        if b <= a:
            continue
        if ref_end[p] <= ref_start[p]:
            for i in range(a, b):
                out[i] = np.nan
            continue
        _pair_nearest(
            lat[ref_start[p] : ref_end[p]],
            lng[ref_start[p] : ref_end[p]],
            q_lat[a:b],
            q_lng[a:b],
            interpolate,
            out[a:b],
        )


def nearest_distances(
    ref_lat: np.ndarray,
    ref_lng: np.ndarray,
    ref_start: np.ndarray,
    ref_end: np.ndarray,
    test_lat: np.ndarray,
    test_lng: np.ndarray,
    test_start: np.ndarray,
    test_end: np.ndarray,
    *,
    interpolate: bool = True,
) -> np.ndarray:
    """Ground distance from every test event to its reference trace, metres.

    Parameters
    ----------
    ref_lat, ref_lng : numpy.ndarray
        Reference events, degrees, each trace in time order.
    ref_start, ref_end : numpy.ndarray
        int64 row range of the reference trace of each pair.
    test_lat, test_lng : numpy.ndarray
        Test events, degrees.
    test_start, test_end : numpy.ndarray
        int64 row range of the test trace of each pair; ranges must not overlap.
    interpolate : bool, default True
        Measure to the reference polyline (segments between consecutive events, the projection
        clamped to each segment) instead of to the nearest reference event.

    Returns
    -------
    numpy.ndarray
        float64, one entry per test row: the distance in metres; NaN where the pair's reference
        trace is empty; rows outside every test range are NaN.

    Notes
    -----
    With ``interpolate`` the original Accio only tried the two segments next to the nearest
    reference event, which can miss a closer segment; this is the exact distance to the whole
    polyline, never larger than the original's.
    """
    rl = _writable(ref_lat, np.float64)
    rg = _writable(ref_lng, np.float64)
    tl = _writable(test_lat, np.float64)
    tg = _writable(test_lng, np.float64)
    out = np.full(tl.shape[0], np.nan)
    _nearest_pairs(
        rl,
        rg,
        _writable(ref_start, np.int64),
        _writable(ref_end, np.int64),
        tl,
        tg,
        _writable(test_start, np.int64),
        _writable(test_end, np.int64),
        bool(interpolate),
        out,
    )
    return out


@nb.njit(cache=True, nogil=True)
def _spatiotemporal_pairs(
    lat: np.ndarray,
    lng: np.ndarray,
    time: np.ndarray,
    ref_start: np.ndarray,
    ref_end: np.ndarray,
    q_lat: np.ndarray,
    q_lng: np.ndarray,
    q_time: np.ndarray,
    test_start: np.ndarray,
    test_end: np.ndarray,
    out: np.ndarray,
) -> None:
    for p in range(ref_start.shape[0]):
        a = test_start[p]
        b = test_end[p]
        ra = ref_start[p]
        rb = ref_end[p]
        if rb <= ra:
            for qi in range(a, b):
                out[qi] = np.nan
            continue
        j = ra  # ref_time[j] <= t < ref_time[j + 1], advanced monotonically
        for qi in range(a, b):
            t = q_time[qi]
            if t <= time[ra]:
                la = lat[ra]
                lo = lng[ra]
            elif t >= time[rb - 1]:
                la = lat[rb - 1]
                lo = lng[rb - 1]
            else:
                while j + 1 < rb and time[j + 1] <= t:
                    j += 1
                dt = time[j + 1] - time[j]
                f = (t - time[j]) / dt if dt > 0 else 0.0
                la = lat[j] + f * (lat[j + 1] - lat[j])
                lo = lng[j] + f * _wrap_deg(lng[j + 1] - lng[j])
            out[qi] = haversine_nb(q_lat[qi], q_lng[qi], la, lo, EARTH_RADIUS_M)


def spatiotemporal_distances(
    ref_lat: np.ndarray,
    ref_lng: np.ndarray,
    ref_time: np.ndarray,
    ref_start: np.ndarray,
    ref_end: np.ndarray,
    test_lat: np.ndarray,
    test_lng: np.ndarray,
    test_time: np.ndarray,
    test_start: np.ndarray,
    test_end: np.ndarray,
) -> np.ndarray:
    """Distance from every test event to the reference position at the same instant, metres.

    The reference position at time ``t`` is interpolated linearly (in degrees, longitude
    unwrapped) between the reference events around ``t``, and clamped to the first or last
    reference event outside the reference's time span. Traces must be time-ordered.

    Parameters
    ----------
    ref_lat, ref_lng, ref_time : numpy.ndarray
        Reference events: degrees, epoch ms.
    ref_start, ref_end : numpy.ndarray
        int64 row range of the reference trace of each pair.
    test_lat, test_lng, test_time : numpy.ndarray
        Test events: degrees, epoch ms.
    test_start, test_end : numpy.ndarray
        int64 row range of the test trace of each pair.

    Returns
    -------
    numpy.ndarray
        float64 haversine distances, one per test row; NaN where the reference is empty or the
        row belongs to no pair.
    """
    tl = _writable(test_lat, np.float64)
    out = np.full(tl.shape[0], np.nan)
    _spatiotemporal_pairs(
        _writable(ref_lat, np.float64),
        _writable(ref_lng, np.float64),
        _writable(ref_time, np.int64),
        _writable(ref_start, np.int64),
        _writable(ref_end, np.int64),
        tl,
        _writable(test_lng, np.float64),
        _writable(test_time, np.int64),
        _writable(test_start, np.int64),
        _writable(test_end, np.int64),
        out,
    )
    return out
