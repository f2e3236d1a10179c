"""Cache keys: pinned vectors for nodes without files; file ports add their fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from accio.cache.fingerprint import FingerprintCache
from accio.cache.keys import KEY_TAG, KeyComponents
from accio.engine.plan import NodePlan, key_components
from accio.errors import RegistryError
from accio.ops.api import Port, operator, spec_of
from accio.testing import Mean, Number

INPUTS = (
    ("epsilon", {"type": "double", "value": 0.01}),
    ("data", {"type": "dataset", "value": "ab" * 32}),
    ("opt", None),
)


def test_pinned_vectors_without_files() -> None:
    """Changing these invalidates every cache: they were computed before file ports existed."""
    stable = KeyComponents("GeoIndistinguishability", "2", "c0de", INPUTS, None)
    seeded = KeyComponents("GeoIndistinguishability", "2", "c0de", INPUTS, 42)
    assert stable.key() == "265c69bb42773a4119ed9182ca6f004f06ed4951d61b8878527581bb13fbe630"
    assert seeded.key() == "3abd88d30fe271048267342aab53f555aaf9eb7aa1d276ee32f5ca649c8ca4c7"
    assert "files" not in json.loads(stable.to_json())


@pytest.mark.parametrize(
    ("op", "given"),
    [
        (Number, {"value": {"type": "double", "value": 3.0}}),
        (Mean, {"data": {"type": "dataset", "value": "cd" * 32}}),
    ],
)
def test_plan_keys_of_nodes_without_files_follow_the_documented_formula(
    op: type, given: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    spec = spec_of(op)
    files = FingerprintCache(tmp_path / "fp.sqlite3")
    comps = key_components(NodePlan("N", spec, 0, {}, (), ()), given, None, files)
    parts = [[p.name, given.get(p.name) or comps.inputs[i][1]] for i, p in enumerate(spec.inputs)]
    payload = json.dumps(
        [KEY_TAG, spec.name, spec.version, spec.code_hash, parts, None],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert comps.files == ()
    assert comps.key() == hashlib.sha256(payload.encode()).hexdigest()
    assert files.stats == 0  # no file port: the file system is not touched


@operator(category="test", help="Reads a file.")
class ReadFile:
    class Inputs:
        path = Port("string", file=True)
        mode = Port("string", default="r")

    class Outputs:
        size = Port("long")

    def run(self, inputs: dict[str, object], ctx: object) -> dict[str, object]:
        return {"size": len(Path(str(inputs["path"])).read_bytes())}


def keyed(path: Path, files: FingerprintCache) -> KeyComponents:
    node = NodePlan("Read", spec_of(ReadFile), 0, {}, (), ())
    return key_components(node, {"path": {"type": "string", "value": str(path)}}, None, files)


def test_file_ports_key_the_content(tmp_path: Path) -> None:
    files = FingerprintCache()
    data = tmp_path / "x.csv"
    data.write_text("1,2,3\n")
    first = keyed(data, files)
    content = hashlib.sha256(b"1,2,3\n").hexdigest()
    assert first.files == (("path", f"file:6:{content}"),)
    bare = KeyComponents(first.op, first.version, first.code_hash, first.inputs, None)
    assert first.key() != bare.key()  # the sixth element
    assert json.loads(first.to_json())["files"] == {"path": first.files[0][1]}
    assert keyed(data, files).key() == first.key()
    data.write_text("1,2,4\n")  # same size, same path
    assert keyed(data, files).key() != first.key()
    data.unlink()
    assert keyed(data, files).files == (("path", "missing"),)


def test_file_declarations_are_checked() -> None:
    with pytest.raises(RegistryError, match="file=True"):

        @operator(category="test")
        class BadType:
            class Inputs:
                path = Port("double", file=True)

            def run(self, inputs: object, ctx: object) -> dict[str, object]:
                return {}

    with pytest.raises(RegistryError, match="file=True"):

        @operator(category="test")
        class BadOutput:
            class Outputs:
                path = Port("string", file=True)

            def run(self, inputs: object, ctx: object) -> dict[str, object]:
                return {}

    @operator(category="test")
    class Many:
        class Inputs:
            paths = Port("list(string)", file=True)

        def run(self, inputs: object, ctx: object) -> dict[str, object]:
            return {}

    assert spec_of(Many).file_inputs == ("paths",)
