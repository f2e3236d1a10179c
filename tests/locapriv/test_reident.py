"""Attacks as metrics: AP-attack and uniqueness on unprotected, identical and hand-made users."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from accio_locapriv.arrow import from_columns, to_arrays
from accio_locapriv.kernels.geo import from_local
from accio_locapriv.metrics import ApAttack, Uniqueness
from accio_locapriv.metrics.reident import ap_attack
from accio_locapriv.synthetic import generate_traces

HOUR = 3_600_000
T0 = 1_704_067_200_000


@pytest.fixture(scope="module")
def distinct() -> pa.Table:
    """Eight distinct synthetic users over four days, every 5 minutes."""
    events, _ = generate_traces(8, 4, 300_000, 10.0, (45.76, 4.84), seed=21)
    return events


def _identical(n_users: int) -> pa.Table:
    """n users with exactly the same trace (user 000's)."""
    events, _ = generate_traces(1, 2, 600_000, 10.0, (45.76, 4.84), seed=3)
    a = to_arrays(events)
    ids = [f"{u:03d}" for u in range(n_users) for _ in range(a.n_events)]
    return from_columns(
        ids, np.tile(a.lat, n_users), np.tile(a.lng, n_users), np.tile(a.time, n_users)
    )


def test_ap_attack_reidentifies_unprotected_users(run_op, distinct) -> None:
    out = run_op(ApAttack, {"train": distinct, "test": distinct})
    users = sorted({i.split("-")[0] for i in distinct.column("id").to_pylist()})
    assert out["rate"] == 1.0
    assert out["matches"] == {u: u for u in users}
    assert out["rank"] == dict.fromkeys(users, 1)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in out["distance"].values())


def test_ap_attack_split_traces_and_temporal_split(run_op, distinct) -> None:
    # Train on the first two days, attack the last two: distinct users stay re-identifiable.
    t = distinct.column("time").cast(pa.int64()).to_numpy()
    cut = T0 + 2 * 86_400_000
    train = distinct.filter(pa.array(t < cut))
    test = distinct.filter(pa.array(t >= cut))
    out = run_op(ApAttack, {"train": train, "test": test})
    assert out["rate"] >= 0.75
    assert sorted(out["rank"]) == sorted(out["matches"])
    assert all(r >= 1 for r in out["rank"].values())


def test_ap_attack_is_at_chance_on_identical_users(run_op) -> None:
    events = _identical(5)
    out = run_op(ApAttack, {"train": events, "test": events})
    assert out["rate"] == pytest.approx(1 / 5)  # all tied: everyone linked to the first id
    assert set(out["matches"].values()) == {"000"}
    assert out["rank"] == {f"{u:03d}": u + 1 for u in range(5)}


def _grid_events(spec: dict[str, list[tuple[int, int, int]]]) -> pa.Table:
    """Events at the centres of 1 km cells: user -> [(cell column, cell row, hour)]."""
    lat0, lng0 = 45.0, 4.0
    ids, xs, ys, ts = [], [], [], []
    for user, rows in spec.items():
        for col, row, hour in rows:
            ids.append(user)
            xs.append(col * 1000.0 + 500.0)
            ys.append(row * 1000.0 + 500.0)
            ts.append(T0 + hour * HOUR + 60_000)
    lat, lng = from_local(np.array(xs), np.array(ys), lat0, lng0)
    return from_columns(ids, lat, lng, ts)


def _topsoe(p: dict[int, float], q: dict[int, float]) -> float:
    total = 0.0
    for c in set(p) | set(q):
        a, b = p.get(c, 0.0), q.get(c, 0.0)
        total += (a * math.log(2 * a / (a + b)) if a else 0.0) + (
            b * math.log(2 * b / (a + b)) if b else 0.0
        )
    return total


def test_ap_attack_hand_computed_three_users() -> None:
    # Train heat maps (1 km cells 0, 1, 2 along one row): a = (3/4, 1/4, 0), b = (0, 1/2, 1/2),
    # c = (0, 0, 1). Test: a' = (1/2, 1/2, 0), b' = (0, 0, 1), c' = (0, 0, 1).
    train = _grid_events(
        {
            "a": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (1, 0, 3)],
            "b": [(1, 0, 0), (1, 0, 1), (2, 0, 2), (2, 0, 3)],
            "c": [(2, 0, 0), (2, 0, 1), (2, 0, 2), (2, 0, 3)],
        }
    )
    test = _grid_events(
        {
            "a": [(0, 0, 5), (1, 0, 6)],
            "b": [(2, 0, 5), (2, 0, 6)],
            "c": [(2, 0, 5)],
        }
    )
    matches, rank, distance, rate = ap_attack(to_arrays(train), to_arrays(test), 1000.0)
    # Topsøe from a' to a: 0.5 ln(1/1.25) + 0.75 ln(1.5/1.25) + 0.5 ln(1/0.75) + 0.25 ln(0.5/0.75)
    # = -0.111572 + 0.136741 + 0.143841 - 0.101366 = 0.067644; to b: cell 0 gives 0.5 ln 2,
    # cell 1 gives 0, cell 2 gives 0.5 ln 2, so ln 2 = 0.6931; to c: disjoint, 2 ln 2. So a -> a.
    d_a_a = (
        0.5 * math.log(1 / 1.25)
        + 0.75 * math.log(1.5 / 1.25)
        + 0.5 * math.log(1 / 0.75)
        + 0.25 * math.log(0.5 / 0.75)
    )
    assert distance["a"] == pytest.approx(d_a_a, abs=1e-12)
    assert d_a_a == pytest.approx(0.067644, abs=1e-6)
    # b' = (0, 0, 1) equals c's map (distance 0), so b' is linked to c; its own map b is at
    # ln(2/1.5) + 0.5 ln(1/1.5) + 0.5 ln 2 = 0.287682 - 0.202733 + 0.346574 = 0.431523 (the
    # Topsøe test value of locapriv.md §2.6).
    d_b_b = _topsoe({2: 1.0}, {1: 0.5, 2: 0.5})
    assert d_b_b == pytest.approx(0.431523, abs=1e-6)
    assert distance["b"] == pytest.approx(d_b_b, abs=1e-12)
    assert matches == {"a": "a", "b": "c", "c": "c"}
    assert rank == {"a": 1, "b": 2, "c": 1}
    assert rate == pytest.approx(2 / 3)


def test_uniqueness_of_distinct_and_identical_users(run_op, distinct) -> None:
    out = run_op(Uniqueness, {"data": distinct, "points": 4, "trials": 10})
    assert out["uniqueness"] == 1.0 and set(out["unique"].values()) == {1.0}
    assert out["topNUniqueness"] == 1.0
    same = run_op(Uniqueness, {"data": _identical(4), "points": 4, "trials": 10})
    assert same["uniqueness"] == 0.0 and same["topNUniqueness"] == 0.0
    assert same["unique"] == dict.fromkeys(("000", "001", "002", "003"), 0.0)


def test_uniqueness_hand_computed_three_users(run_op) -> None:
    # Points (cell, hour): a = {P1, P2}; b = {P1, P2, P3}; c = {P4}. With 2 known points:
    # a's only pair {P1, P2} is shared with b: 0; b is unique unless {P1, P2} is drawn: 2/3;
    # c has a single point nobody else has: 1.
    # Top-1 locations (cells by hours seen): a -> X (2 h), b -> X (2 h of 3), c -> Y: a, b not
    # unique, c unique.
    events = _grid_events(
        {
            "a": [(0, 0, 0), (0, 0, 1)],
            "b": [(0, 0, 0), (0, 0, 1), (5, 0, 2)],
            "c": [(9, 0, 4)],
        }
    )
    out = run_op(Uniqueness, {"data": events, "points": 2, "level": 12, "topN": 1, "trials": 3000})
    assert out["unique"]["a"] == 0.0 and out["unique"]["c"] == 1.0
    assert out["unique"]["b"] == pytest.approx(2 / 3, abs=0.03)
    assert out["uniqueness"] == pytest.approx((0 + 2 / 3 + 1) / 3, abs=0.01)
    assert out["topNUnique"] == {"a": 0.0, "b": 0.0, "c": 1.0}
    assert out["topNUniqueness"] == pytest.approx(1 / 3)
    # Keyed per user: the same seed gives the same draws, another seed others.
    again = run_op(
        Uniqueness, {"data": events, "points": 2, "level": 12, "topN": 1, "trials": 3000}
    )
    assert again == out


def test_ap_attack_sparse_topsoe_equals_twice_jensen_shannon(distinct) -> None:
    # The Topsøe path works on shared cells only; the generic path sums over the union of cells.
    # Topsøe = 2·JSD gives an independent oracle on a noisy copy (non-trivial distances).
    a = to_arrays(distinct)
    rng = np.random.default_rng(3)
    lat, lng = from_local(
        rng.normal(0, 300, a.n_events), rng.normal(0, 300, a.n_events), a.lat, a.lng
    )
    noisy = to_arrays(from_columns(list(a.event_ids()), lat, lng, a.time))
    m1, r1, d1, rate1 = ap_attack(a, noisy, 500.0, "topsoe")
    m2, r2, d2, rate2 = ap_attack(a, noisy, 500.0, "jensendiv")
    assert m1 == m2 and r1 == r2 and rate1 == rate2
    assert d1 == pytest.approx({u: 2 * v for u, v in d2.items()}, abs=1e-12)
    assert all(v > 0.01 for v in d1.values())
