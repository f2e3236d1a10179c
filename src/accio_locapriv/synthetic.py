"""A deterministic synthetic mobility generator with ground-truth stays.

Real mobility datasets cannot be shipped or downloaded (locapriv.md §0.6, §3), so tests, demos and
benchmarks use synthetic users. Each user has a home, a work place and one to three other places
(within a few kilometres of a city centre) and follows a weekly routine:

* weekdays: home until 07:30–09:00, work until 16:30–18:30, sometimes (p = 0.5) another place
  for 30–120 min, then home;
* weekends: sometimes (p = 0.7) one or two other places from 10:00–13:00 on, 30–150 min each;

moving between places in straight lines at 4–14 m/s. Positions are sampled at a fixed interval
(with a random per-user phase) and blurred with isotropic Gaussian noise. The function returns
the events and the scheduled stays, so stay detection, POI retrieval and re-identification have
exact expectations.

Every user's randomness comes from ``numpy.random.default_rng(derive_trace_seed(seed, user_id))``,
the same generator :meth:`accio.ops.context.OperatorContext.trace_rng` gives for that id, so a
user's trace does not depend on how many other users are generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from accio.definitions.seeds import derive_trace_seed
from accio_locapriv.arrow import TraceArrays, from_arrays
from accio_locapriv.kernels.geo import from_local

__all__ = ["DAY_MS", "DEFAULT_START_MS", "generate_traces", "user_ids"]

#: Milliseconds in a day.
DAY_MS = 86_400_000
_MIN_MS = 60_000
#: Start of every synthetic trace: Monday 2024-01-01T00:00:00Z, epoch ms.
DEFAULT_START_MS = 1_704_067_200_000

#: Shortest scheduled stay at a place other than home, ms; below it a visit is skipped.
_MIN_STAY_MS = 30 * _MIN_MS


@dataclass
class _Stay:
    poi: int
    arrive: int
    leave: int


def user_ids(n_users: int) -> list[str]:
    """Ids of ``n_users`` synthetic users: zero-padded decimals (``000``, ``001``, ...)."""
    width = max(3, len(str(max(n_users - 1, 0))))
    return [f"{u:0{width}d}" for u in range(n_users)]


def _places(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Places of one user in metres east/north of the centre, and their labels."""
    home = rng.normal(0.0, 4000.0, 2)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    work = home + rng.uniform(2000.0, 10000.0) * np.array([np.cos(angle), np.sin(angle)])
    n_other = int(rng.integers(1, 4))
    angles = rng.uniform(0.0, 2.0 * np.pi, n_other)
    dists = rng.uniform(500.0, 4000.0, n_other)
    anchors = np.where(rng.random(n_other)[:, None] < 0.5, home, work)
    others = anchors + dists[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    xy = np.vstack([home, work, others])
    labels = ["home", "work", *(f"other{i}" for i in range(n_other))]
    return xy, labels


def _schedule(rng: np.random.Generator, xy: np.ndarray, days: int, start_ms: int) -> list[_Stay]:
    """Stays of one user, at place indices, in time order."""
    end_ms = start_ms + days * DAY_MS
    stays: list[_Stay] = []
    cur = _Stay(0, start_ms, start_ms)
    n_other = len(xy) - 2

    def go(poi: int, depart: int, min_stay: int) -> bool:
        nonlocal cur
        if poi == cur.poi or depart < cur.arrive + min_stay:
            return False
        speed = float(rng.uniform(4.0, 14.0))
        travel = int(np.hypot(*(xy[poi] - xy[cur.poi])) / speed * 1000.0) + 1
        if depart + travel >= end_ms:
            return False
        cur.leave = depart
        stays.append(cur)
        cur = _Stay(poi, depart + travel, depart + travel)
        return True

    first_weekday = ((start_ms // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    for d in range(days):
        day0 = start_ms + d * DAY_MS
        weekday = (first_weekday + d) % 7 < 5
        if weekday:
            go(1, day0 + int(rng.uniform(450, 540)) * _MIN_MS, 0)
            back = day0 + int(rng.uniform(990, 1110)) * _MIN_MS
            if rng.random() < 0.5 and go(2 + int(rng.integers(0, n_other)), back, _MIN_STAY_MS):
                back = cur.arrive + int(rng.uniform(30, 120)) * _MIN_MS
            go(0, back, _MIN_STAY_MS)
        elif rng.random() < 0.7:
            t = day0 + int(rng.uniform(600, 780)) * _MIN_MS
            for _ in range(int(rng.integers(1, 3))):
                if go(2 + int(rng.integers(0, n_other)), t, 0):
                    t = cur.arrive + int(rng.uniform(30, 150)) * _MIN_MS
            go(0, t, _MIN_STAY_MS)
    cur.leave = end_ms
    stays.append(cur)
    return stays


def _positions(
    times: np.ndarray, stays: list[_Stay], xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free positions (metres from the centre) at ``times``, vectorised."""
    arrive = np.array([s.arrive for s in stays], dtype=np.int64)
    leave = np.array([s.leave for s in stays], dtype=np.int64)
    poi = np.array([s.poi for s in stays], dtype=np.int64)
    k = np.clip(np.searchsorted(arrive, times, side="right") - 1, 0, len(stays) - 1)
    nxt = np.minimum(k + 1, len(stays) - 1)
    span = np.maximum(arrive[nxt] - leave[k], 1)
    f = np.clip((times - leave[k]) / span, 0.0, 1.0)
    moving = times >= leave[k]
    f = np.where(moving, f, 0.0)
    p0 = xy[poi[k]]
    p1 = xy[poi[nxt]]
    pos = p0 + f[:, None] * (p1 - p0)
    return pos[:, 0], pos[:, 1]


def generate_traces(
    n_users: int,
    days: int,
    interval_ms: int,
    jitter_m: float,
    center: tuple[float, float] | Sequence[float] | object,
    seed: int,
    *,
    start_ms: int = DEFAULT_START_MS,
) -> tuple[pa.Table, pa.Table]:
    """Generate synthetic traces and their ground-truth stays.

    Parameters
    ----------
    n_users : int
        Number of users (one trace each, ids from :func:`user_ids`).
    days : int
        Length of every trace in days, from ``start_ms``.
    interval_ms : int
        Sampling interval in milliseconds, > 0.
    jitter_m : float
        Standard deviation of the GPS noise per axis, metres (≥ 0).
    center : (lat, lng) or accio.values.types.Location
        City centre, degrees; places lie within roughly 15 km of it.
    seed : int
        Node seed; user ``u``'s generator is keyed on ``(seed, user id)``.
    start_ms : int, keyword-only
        Start of the traces, epoch ms (default Monday 2024-01-01T00:00Z).

    Returns
    -------
    (events, stays) : tuple of pyarrow.Table
        ``events`` is a canonical trace table. ``stays`` has one row per scheduled stay, sorted by
        (``id``, ``start``): ``id``, ``lat``, ``lng`` (the place, without noise), ``start``,
        ``end`` (timestamp[ms, UTC]; the user is at the place for ``start ≤ t < end``; the first
        and last stays are cut at the trace boundaries) and ``poi`` (``home``, ``work``,
        ``other<i>``).
    """
    if n_users < 0 or days < 0:
        raise ValueError("n_users and days must be >= 0")
    if not interval_ms > 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    if not jitter_m >= 0:
        raise ValueError(f"jitter_m must be >= 0, got {jitter_m}")
    lat0, lng0 = _center(center)
    interval_ms = int(interval_ms)
    ids = user_ids(n_users)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    lengths = np.zeros(n_users, dtype=np.int64)
    stay_rows: dict[str, list[Any]] = {k: [] for k in ("id", "x", "y", "start", "end", "poi")}
    for u, uid in enumerate(ids):
        rng = np.random.default_rng(derive_trace_seed(seed, uid))
        xy, labels = _places(rng)
        stays = _schedule(rng, xy, days, start_ms)
        phase = int(rng.integers(0, interval_ms))
        times = np.arange(start_ms + phase, start_ms + days * DAY_MS, interval_ms, dtype=np.int64)
        x, y = _positions(times, stays, xy)
        if jitter_m > 0:
            noise = rng.normal(0.0, jitter_m, (2, len(times)))
            x = x + noise[0]
            y = y + noise[1]
        xs.append(x)
        ys.append(y)
        ts.append(times)
        lengths[u] = len(times)
        for s in stays:
            if s.leave > s.arrive:
                stay_rows["id"].append(uid)
                stay_rows["x"].append(xy[s.poi, 0])
                stay_rows["y"].append(xy[s.poi, 1])
                stay_rows["start"].append(s.arrive)
                stay_rows["end"].append(s.leave)
                stay_rows["poi"].append(labels[s.poi])
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    lat, lng = from_local(x, y, lat0, lng0)
    events = from_arrays(
        TraceArrays(
            ids=np.array(ids, dtype=object),
            offsets=offsets,
            lat=np.asarray(lat, dtype=np.float64),
            lng=np.asarray(lng, dtype=np.float64),
            time=np.concatenate(ts) if ts else np.zeros(0, dtype=np.int64),
        )
    )
    s_lat, s_lng = from_local(
        np.asarray(stay_rows["x"], dtype=np.float64),
        np.asarray(stay_rows["y"], dtype=np.float64),
        lat0,
        lng0,
    )
    ts_type = pa.timestamp("ms", tz="UTC")
    stays_table = pa.table(
        {
            "id": pa.array(stay_rows["id"], type=pa.string()),
            "lat": pa.array(np.asarray(s_lat, dtype=np.float64)),
            "lng": pa.array(np.asarray(s_lng, dtype=np.float64)),
            "start": pa.array(np.asarray(stay_rows["start"], dtype=np.int64)).cast(ts_type),
            "end": pa.array(np.asarray(stay_rows["end"], dtype=np.int64)).cast(ts_type),
            "poi": pa.array(stay_rows["poi"], type=pa.string()),
        }
    )
    return events, stays_table


def _center(center: Any) -> tuple[float, float]:
    """(lat, lng) of a Location or a pair."""
    if hasattr(center, "lat") and hasattr(center, "lng"):
        return float(center.lat), float(center.lng)
    lat, lng = center
    return float(lat), float(lng)
