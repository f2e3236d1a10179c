"""S2 cell ids for arrays of coordinates, without an S2 library at run time.

The S2 geometry (Google, https://s2geometry.io) maps the sphere onto the six faces of a cube,
applies a quadratic correction so that cells have nearly equal areas, and numbers the cells of
each face along a Hilbert curve. A cell id is a 64-bit integer: 3 face bits, then two bits per
level of the Hilbert position, then a single trailing 1 bit whose position encodes the level.

The kernel below reproduces ``S2CellId(S2LatLng::FromDegrees(lat, lng)).parent(level)``. It
follows the same floating-point steps as the pure-Python ``s2cell`` package
(``s2cell.lat_lon_to_cell_id``), so results are bit-for-bit identical to it at every level from
0 to 30; the test suite checks this. ``s2cell`` is a test-only dependency.

Cell edge lengths, roughly: level 10 ≈ 9 km, 12 ≈ 2.25 km, 15 ≈ 281 m, 18 ≈ 35 m, 20 ≈ 9 m.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

__all__ = [
    "MAX_LEVEL",
    "PARALLEL_MIN",
    "cell_centers",
    "cell_id_level",
    "cell_ids",
    "default_threads",
    "lookup_pos",
    "parent_ids",
    "snap_to_cells",
]

#: Deepest S2 level (leaf cells, about 1 cm).
MAX_LEVEL = 30

_LOOKUP_BITS = 6
_SWAP = 1
_INVERT = 2


def _writable(a: object, dtype: type) -> np.ndarray:
    """A C-contiguous, writable array (Arrow buffers are read-only, which numba would compile
    a second specialisation for); copies only when needed."""
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def _build_lookup_pos() -> np.ndarray:
    """Table mapping 6 bits of i, 6 bits of j and 2 orientation bits to 12 Hilbert bits + 2.

    The index is ``iiiiiijjjjjjoo`` and the value ``ppppppppppppoo``: the position of the
    sub-cell along a 6-level Hilbert curve whose base orientation is ``oo`` (bit 0 swaps i and j,
    bit 1 inverts them), followed by the orientation of the curve inside that sub-cell. The S2
    reference uses 4-level steps; 6-level steps need 5 look-ups instead of 8 for a leaf cell and
    the table (16 K entries of int16) still fits in the L1 cache.
    """
    # Sub-cell (i, j) bits visited at each Hilbert position, for each orientation.
    pos_to_ij = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
    # Orientation change when descending into the sub-cell at each position.
    pos_to_orientation = (_SWAP, 0, 0, _SWAP | _INVERT)
    table = np.zeros(1 << (2 * _LOOKUP_BITS + 2), dtype=np.int16)
    for base in range(4):
        for pos in range(1 << (2 * _LOOKUP_BITS)):
            ij = 0
            orientation = base
            for level in range(_LOOKUP_BITS):
                quadrant = (pos >> (2 * (_LOOKUP_BITS - 1 - level))) & 3
                bits = pos_to_ij[orientation][quadrant]
                ij = (ij << 1) | ((bits & 2) << (_LOOKUP_BITS - 1)) | (bits & 1)
                orientation ^= pos_to_orientation[quadrant]
            table[(ij << 2) | base] = (pos << 2) | orientation
    return table


_LOOKUP_POS = _build_lookup_pos()


def lookup_pos() -> np.ndarray:
    """A copy of the (i, j, orientation) -> (Hilbert position, orientation) table (int16)."""
    return _LOOKUP_POS.copy()


@nb.njit(cache=True, inline="always")
def _uv_to_st(u: float) -> float:
    # Quadratic projection, the S2 default (C++ definition of the st space).
    if u >= 0.0:
        return 0.5 * math.sqrt(1.0 + 3.0 * u)
    return 1.0 - 0.5 * math.sqrt(1.0 - 3.0 * u)


@nb.njit(cache=True, inline="always")
def _st_to_ij(s: float) -> int:
    v = math.floor(s * 1073741824.0)  # 2**30
    if v < 0.0:
        return 0
    if v > 1073741823.0:
        return 1073741823
    return int(v)


_BLOCK = 512


@nb.njit(cache=True, error_model="numpy", inline="always")
def _face_ij(la: float, lo: float) -> tuple[int, int, int]:
    cos_la = math.cos(la)
    p0 = cos_la * math.cos(lo)
    p1 = cos_la * math.sin(lo)
    p2 = math.sin(la)
    # Face: axis of the largest absolute component, ties to the lowest axis; +3 if negative.
    face = 0
    big = abs(p0)
    if abs(p1) > big:
        face = 1
        big = abs(p1)
    if abs(p2) > big:
        face = 2
    if face == 0:
        if p0 < 0.0:
            face = 3
    elif face == 1:
        if p1 < 0.0:
            face = 4
    elif p2 < 0.0:
        face = 5
    if face == 0:
        u = p1 / p0
        v = p2 / p0
    elif face == 1:
        u = -(p0 / p1)
        v = p2 / p1
    elif face == 2:
        u = -(p0 / p2)
        v = -(p1 / p2)
    elif face == 3:
        u = p2 / p0
        v = p1 / p0
    elif face == 4:
        u = p2 / p1
        v = -(p0 / p1)
    else:
        u = -(p1 / p2)
        v = -(p0 / p2)
    return face, _st_to_ij(_uv_to_st(u)), _st_to_ij(_uv_to_st(v))


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _cell_ids(
    lat: np.ndarray, lng: np.ndarray, level: int, table: np.ndarray, out: np.ndarray
) -> None:
    n = lat.shape[0]
    deg = math.pi / 180.0
    steps = (level + 5) // 6  # ceil(level / 6) table steps of 6 levels each
    lsb = np.uint64(1) << np.uint64(2 * (30 - level))
    keep = ~(lsb - np.uint64(1)) ^ lsb  # clears the lsb and everything below it
    faces = np.empty(_BLOCK, dtype=np.int64)
    iis = np.empty(_BLOCK, dtype=np.int64)
    jjs = np.empty(_BLOCK, dtype=np.int64)
    for b0 in range(0, n, _BLOCK):
        b1 = min(n, b0 + _BLOCK)
        # Pass 1 (bound by the trigonometric calls): face and leaf (i, j) of every point.
        for k in range(b0, b1):
            f, i, j = _face_ij(lat[k] * deg, lng[k] * deg)
            faces[k - b0] = f
            iis[k - b0] = i
            jjs[k - b0] = j
        # Pass 2 (a chain of table look-ups per point; independent points overlap well).
        for k in range(b0, b1):
            face = faces[k - b0]
            i = iis[k - b0]
            j = jjs[k - b0]
            bits = face & 1
            cid = np.uint64(face) << np.uint64(60)
            for step in range(steps):
                shift = 24 - 6 * step
                bits = np.int64(
                    table[bits | (((i >> shift) & 63) << 8) | (((j >> shift) & 63) << 2)]
                )
                cid |= np.uint64(bits >> 2) << np.uint64(2 * shift)
                bits &= 3
            out[k] = ((cid << np.uint64(1)) & keep) | lsb


#: Arrays at least this long are split over threads (the kernel releases the GIL).
PARALLEL_MIN = 1 << 20


def default_threads() -> int:
    """Threads used for long arrays: the CPUs this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def cell_ids(
    lat: np.ndarray, lng: np.ndarray, level: int = MAX_LEVEL, *, threads: int | None = None
) -> np.ndarray:
    """S2 cell ids of points at one level.

    Parameters
    ----------
    lat, lng : numpy.ndarray
        Latitude and longitude in degrees (WGS84), same length. Latitudes must lie in
        [-90, 90]; longitudes may be any finite value.
    level : int, default 30
        S2 level, 0 (a cube face) to 30 (leaf cells of about 1 cm).
    threads : int, optional
        Threads for arrays of at least :data:`PARALLEL_MIN` points; default
        :func:`default_threads`. The result does not depend on it.

    Returns
    -------
    numpy.ndarray
        ``uint64`` cell ids, equal to ``s2cell.lat_lon_to_cell_id(lat, lng, level)`` element-wise
        (ids of faces 4 and 5 exceed ``2**63``, hence unsigned).

    Raises
    ------
    ValueError
        If ``level`` is outside 0..30 or the arrays differ in length.

    References
    ----------
    S2 Geometry library, ``S2CellId::FromFaceIJ`` and ``s2coords.h`` (quadratic projection).
    """
    if isinstance(level, bool) or int(level) != level or not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"S2 level must be an integer in 0..{MAX_LEVEL}, got {level!r}")
    lat_a = _writable(lat, np.float64)
    lng_a = _writable(lng, np.float64)
    if lat_a.shape != lng_a.shape or lat_a.ndim != 1:
        raise ValueError("lat and lng must be 1-d arrays of the same length")
    n = lat_a.shape[0]
    out = np.empty(n, dtype=np.uint64)
    workers = default_threads() if threads is None else max(1, int(threads))
    if workers == 1 or n < PARALLEL_MIN:
        _cell_ids(lat_a, lng_a, int(level), _LOOKUP_POS, out)
        return out
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)

    def work(k: int) -> None:
        a, b = bounds[k], bounds[k + 1]
        _cell_ids(lat_a[a:b], lng_a[a:b], int(level), _LOOKUP_POS, out[a:b])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return out


def cell_id_level(cell_id: np.ndarray) -> np.ndarray:
    """Level of S2 cell ids (from the position of the trailing 1 bit), as int64."""
    ids = np.asarray(cell_id, dtype=np.uint64)
    low = ids & (~ids + np.uint64(1))  # lowest set bit
    trailing = np.log2(low.astype(np.float64)).astype(np.int64)
    return MAX_LEVEL - trailing // 2


def _build_lookup_ij(table: np.ndarray) -> np.ndarray:
    """Inverse of the position table: ``(pos << 2) | orientation -> (ij << 2) | orientation``."""
    inverse = np.zeros_like(table)
    for index in range(len(table)):
        value = int(table[index])
        base = index & 3
        inverse[((value >> 2) << 2) | base] = ((index >> 2) << 2) | (value & 3)
    return inverse


_LOOKUP_IJ = _build_lookup_ij(_LOOKUP_POS)
_MAX_SI_TI = float(1 << 31)


@nb.njit(cache=True, inline="always")
def _st_to_uv(s: float) -> float:
    # Inverse of the quadratic projection (s2coords.h, C++ definition of st).
    if s >= 0.5:
        return (1.0 / 3.0) * (4.0 * s * s - 1.0)
    return (1.0 / 3.0) * (1.0 - 4.0 * (1.0 - s) * (1.0 - s))


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _cell_centers(
    ids: np.ndarray, table: np.ndarray, out_lat: np.ndarray, out_lng: np.ndarray
) -> None:
    rad = 180.0 / math.pi
    for k in range(ids.shape[0]):
        cid = ids[k]
        face = np.int64(cid >> np.uint64(61))
        bits = face & 1
        i = np.int64(0)
        j = np.int64(0)
        for step in range(5):  # 30 levels, 6 per table step, from the top
            shift = 24 - 6 * step
            pos = np.int64((cid >> np.uint64(2 * shift + 1)) & np.uint64(4095))
            v = np.int64(table[(pos << 2) | bits])
            i |= ((v >> 8) & 63) << shift
            j |= ((v >> 2) & 63) << shift
            bits = v & 3
        # Level from the trailing 1 bit; the decoded leaf lies inside the cell, whose lower
        # corner is found by clearing the low bits, and whose centre is half a cell further.
        low = cid & (~cid + np.uint64(1))
        trailing = 0
        while (low >> np.uint64(trailing)) > np.uint64(1):
            trailing += 1
        size = np.int64(1) << np.int64(trailing // 2)
        i = i & ~(size - 1)
        j = j & ~(size - 1)
        u = _st_to_uv((2 * i + size) / _MAX_SI_TI)
        v2 = _st_to_uv((2 * j + size) / _MAX_SI_TI)
        if face == 0:
            x, y, z = 1.0, u, v2
        elif face == 1:
            x, y, z = -u, 1.0, v2
        elif face == 2:
            x, y, z = -u, -v2, 1.0
        elif face == 3:
            x, y, z = -1.0, -v2, -u
        elif face == 4:
            x, y, z = v2, -1.0, -u
        else:
            x, y, z = v2, u, -1.0
        out_lat[k] = math.atan2(z, math.sqrt(x * x + y * y)) * rad
        out_lng[k] = math.atan2(y, x) * rad


def cell_centers(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of S2 cells, in degrees.

    Parameters
    ----------
    ids : numpy.ndarray
        Valid S2 cell ids (``uint64``) at any levels.

    Returns
    -------
    (lat, lng) : tuple of numpy.ndarray
        The centre of every cell, as ``s2cell.cell_id_to_lat_lon`` gives it (to the last bits:
        the centre is computed from the cell's lower corner plus half its size, S2's
        ``GetCenterSiTi``, rather than from a decoded leaf).

    References
    ----------
    S2 Geometry library, ``S2CellId::ToFaceIJOrientation``, ``GetCenterSiTi`` and
    ``S2::FaceUVtoXYZ`` (s2coords.h).
    """
    arr = _writable(ids, np.uint64)
    lat = np.empty(arr.shape[0])
    lng = np.empty(arr.shape[0])
    _cell_centers(arr, _LOOKUP_IJ, lat, lng)
    return lat, lng


def parent_ids(ids: np.ndarray, level: int) -> np.ndarray:
    """Ancestors at ``level`` of S2 cell ids at ``level`` or deeper (``uint64``)."""
    if isinstance(level, bool) or int(level) != level or not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"S2 level must be an integer in 0..{MAX_LEVEL}, got {level!r}")
    lsb = np.uint64(1) << np.uint64(2 * (MAX_LEVEL - int(level)))
    arr = np.asarray(ids, dtype=np.uint64)
    return (arr & ~(lsb + lsb - np.uint64(1))) | lsb


def snap_to_cells(
    lat: np.ndarray, lng: np.ndarray, level: int, *, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every point moved to the centre of its S2 cell at ``level`` (degrees in and out).

    Snapping is idempotent: a centre lies in its own cell, so snapping it again returns it.
    """
    return cell_centers(cell_ids(lat, lng, level, threads=threads))
