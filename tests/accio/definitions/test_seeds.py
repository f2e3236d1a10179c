"""Pinned seed vectors: any change to the derivation breaks these (and every user's cache)."""

from __future__ import annotations

import hashlib
import json

from accio.seeds import (
    MASK_63,
    derive_child_seed,
    derive_node_seed,
    derive_trace_seed,
    random_seed,
)


def test_child_seed_vectors() -> None:
    params = {"eps": 0.01, "uri": "/data/a"}
    assert derive_child_seed(42, params, 0) == 3614173222041456383
    assert derive_child_seed(42, params, 1) == 7030543849985284897


def test_child_seed_is_the_documented_formula() -> None:
    params = {"uri": "/data/a", "eps": 0.01}
    payload = json.dumps(
        ["accio/child-seed/v1", 42, params, 0], sort_keys=True, separators=(",", ":")
    )
    expected = int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big") & MASK_63
    assert derive_child_seed(42, params, 0) == expected


def test_node_and_trace_seed_vectors() -> None:
    assert derive_node_seed(123, "Noisy") == 3329720414836054098
    assert derive_trace_seed(123, "user-1") == 4595740206188172725
    assert derive_node_seed(123, "Noisy") != derive_node_seed(123, "Other")


def test_seeds_are_63_bit() -> None:
    for _ in range(100):
        assert 0 <= random_seed() <= MASK_63
    assert 0 <= derive_node_seed(2**63 - 1, "X") <= MASK_63


def test_cache_key_is_the_documented_formula() -> None:
    from accio.cache.keys import KEY_TAG, KeyComponents

    inputs = (("epsilon", {"type": "double", "value": 0.01}), ("data", None))
    comps = KeyComponents("GeoI", "1", "abc", inputs, 42)
    payload = json.dumps(
        [KEY_TAG, "GeoI", "1", "abc", [list(i) for i in inputs], 42],
        sort_keys=True,
        separators=(",", ":"),
    )
    assert comps.key() == hashlib.sha256(payload.encode()).hexdigest()
    assert (
        comps.key() == "0a39158c8a05c3d0afef77c368aa8064f1638afa318db4047c79a9be37d1192c"
    )  # pinned: changing it invalidates every cache


def test_old_module_re_exports_the_same_functions() -> None:
    import accio.definitions.seeds as old
    import accio.seeds as new

    assert set(old.__all__) <= set(dir(new))
    assert all(getattr(old, name) is getattr(new, name) for name in old.__all__)
