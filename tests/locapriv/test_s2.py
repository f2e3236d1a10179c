"""S2 cell ids: bit-for-bit equality with the ``s2cell`` package (the test oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from accio_locapriv.kernels import s2
from accio_locapriv.kernels.s2 import MAX_LEVEL, cell_id_level, cell_ids

s2cell = pytest.importorskip("s2cell")


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))  # uniform on the sphere
    lng = rng.uniform(-180.0, 180.0, n)
    # Poles, the antimeridian, the equator, face edges and corners, cities.
    special = [
        (90.0, 0.0),
        (-90.0, 0.0),
        (0.0, 180.0),
        (0.0, -180.0),
        (0.0, 0.0),
        (0.0, 45.0),
        (0.0, -45.0),
        (0.0, 90.0),
        (0.0, 135.0),
        (35.26438968, 45.0),
        (-35.26438968, -135.0),
        (45.0, 0.0),
        (39.976209, 116.330591),
        (45.76, 4.84),
        (-33.8688, 151.2093),
    ]
    lat[: len(special)] = [p[0] for p in special]
    lng[: len(special)] = [p[1] for p in special]
    return lat, lng


def _oracle(lat: np.ndarray, lng: np.ndarray, level: int) -> np.ndarray:
    return np.array(
        [
            s2cell.lat_lon_to_cell_id(float(a), float(b), level)
            for a, b in zip(lat, lng, strict=True)
        ],
        dtype=np.uint64,
    )


@pytest.mark.parametrize("level", range(MAX_LEVEL + 1))
def test_equal_to_s2cell_at_every_level(level: int) -> None:
    lat, lng = _points(2000, seed=level)
    ours = cell_ids(lat, lng, level)
    assert ours.dtype == np.uint64
    np.testing.assert_array_equal(ours, _oracle(lat, lng, level))


def test_city_scale_points_at_common_levels() -> None:
    rng = np.random.default_rng(3)
    lat = 39.9 + rng.normal(0.0, 0.05, 2000)
    lng = 116.4 + rng.normal(0.0, 0.05, 2000)
    for level in (12, 15, 18):
        np.testing.assert_array_equal(cell_ids(lat, lng, level), _oracle(lat, lng, level))


def test_threaded_path_gives_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    lat, lng = _points(5000, seed=99)
    single = cell_ids(lat, lng, 15, threads=1)
    monkeypatch.setattr(s2, "PARALLEL_MIN", 100)
    np.testing.assert_array_equal(cell_ids(lat, lng, 15, threads=3), single)


def test_level_is_encoded_in_the_id() -> None:
    lat, lng = _points(50, seed=5)
    for level in (0, 1, 15, 30):
        assert set(cell_id_level(cell_ids(lat, lng, level)).tolist()) == {level}


def test_parent_cells_contain_children() -> None:
    lat, lng = _points(200, seed=8)
    leaf = cell_ids(lat, lng, 30)
    parent = cell_ids(lat, lng, 10)
    lsb = np.uint64(1) << np.uint64(2 * (30 - 10))
    np.testing.assert_array_equal((leaf & ~(lsb * np.uint64(2) - np.uint64(1))) | lsb, parent)


def test_empty_and_invalid_inputs() -> None:
    assert cell_ids(np.zeros(0), np.zeros(0), 15).shape == (0,)
    with pytest.raises(ValueError, match="level"):
        cell_ids(np.zeros(1), np.zeros(1), 31)
    with pytest.raises(ValueError, match="level"):
        cell_ids(np.zeros(1), np.zeros(1), -1)
    with pytest.raises(ValueError, match="same length"):
        cell_ids(np.zeros(2), np.zeros(3), 5)
