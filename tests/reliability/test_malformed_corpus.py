"""A generated corpus of malformed definitions and command lines through the real CLI.

Seeded mutations of the valid definitions in ``examples/`` and ``tests/invalid/`` (truncations,
byte flips, type swaps, deep nesting, huge numbers, lone surrogates and non-UTF-8 bytes, wrong
and missing keys) and malformed command lines (unknown flags, out-of-range integers, bytes
that are not UTF-8 in argv values) go through ``accio validate``, ``expand`` and ``submit`` in a
temporary home. Whatever the input, the CLI must answer with a clean error or a result: never a
traceback, never exit 5 (internal error), and nothing may be written to the database.

Most calls run in-process (``accio.cli.main.main``) with stdout and stderr as strict UTF-8
text streams, like a terminal; a few run as real processes with raw bytes in argv. The seed is
fixed, so a failure reproduces; the counts are printed (``pytest -s``).
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accio.cli.main import main

SEED = 20261201
REPO = Path(__file__).resolve().parents[2]
TRACEBACK = "Traceback (most recent call last)"
#: Definitions of the invalid corpus used as bases: its valid workflow and one run (made valid).
CORPUS_BASES = [
    REPO / "tests/invalid/runs/corpus_workflow.json",
    REPO / "tests/invalid/runs/seed_float.json",
]
#: About this many mutated definitions in all, spread over the bases (examples/ grows).
MUTATED_INPUTS = 360
#: Tables a rejected command must leave empty (schema bookkeeping such as alembic_version aside).
DATA_TABLES = (
    "workflows",
    "runs",
    "run_tags",
    "nodes",
    "cache_entries",
    "artifacts",
    "artifact_refs",
    "logs",
)

# --------------------------------------------------------------------------- base definitions


@dataclass(frozen=True)
class Base:
    """A valid definition to mutate; a run names the workflow file it is checked against."""

    kind: str  # "workflow" or "run"
    name: str
    text: str
    workflow: Path | None = None


def base_definitions(workdir: Path) -> tuple[list[Base], dict[str, Path]]:
    """Valid workflows and runs from examples/ and the invalid corpus, with their workflow files
    copied to ``workdir`` under their ids (so a run finds its workflow beside it, too). Other
    JSON files (study specifications...) and runs of unknown workflows are left out."""
    files = [*sorted((REPO / "examples").rglob("*.json")), *CORPUS_BASES]
    documents: list[tuple[Path, Any]] = []
    for path in files:
        try:
            documents.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except ValueError:
            continue
    workflows: dict[str, Path] = {}
    bases: list[Base] = []
    for path, document in documents:
        if isinstance(document, dict) and "graph" in document:
            wf_id = str(document.get("id") or path.stem)
            target = workdir / f"{wf_id}.json"
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            workflows[wf_id] = target
            bases.append(Base("workflow", path.name, target.read_text(encoding="utf-8")))
    for path, document in documents:
        if not (isinstance(document, dict) and isinstance(document.get("workflow"), str)):
            continue
        wf_id = document["workflow"].split(":")[0]
        if wf_id not in workflows:
            continue
        if wf_id == "corpus_workflow":
            document["seed"] = 1  # the corpus file's fault; the mutations bring their own
        bases.append(Base("run", path.name, json.dumps(document, indent=1), workflows[wf_id]))
    return bases, workflows


# --------------------------------------------------------------------------- mutations

Mutation = Callable[[random.Random, Any, str], "str | bytes"]
SENTINEL = "\x00accio-mutation\x00"


def _locations(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, iteratively."""
    found: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key in value:
                found.append((value, key))
                stack.append(value[key])
        elif isinstance(value, list):
            for index in range(len(value)):
                found.append((value, index))
                stack.append(value[index])
    return found


def _replace_somewhere(rng: random.Random, document: Any, new: Any) -> Any:
    spots = _locations(document)
    if not spots:
        return new
    container, key = rng.choice(spots)
    container[key] = new
    return document


def _dump(document: Any, raw: str | None = None) -> str:
    """Compact JSON (lone surrogates as \\u escapes); ``raw`` replaces the sentinel verbatim."""
    text = json.dumps(document, ensure_ascii=True)
    if raw is not None:
        text = text.replace(json.dumps(SENTINEL), raw, 1)
    return text


def truncate(rng: random.Random, document: Any, text: str) -> str:
    return text[: rng.randrange(0, max(1, len(text)))]


def flip_bytes(rng: random.Random, document: Any, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


TYPE_SWAPS: list[Any] = [None, True, False, 0, -1, 0.5, "", "x" * 500, [], {}, [None], {"": ""}]


def swap_type(rng: random.Random, document: Any, text: str) -> str:
    return _dump(_replace_somewhere(rng, document, rng.choice(TYPE_SWAPS)))


def deep_nesting(rng: random.Random, document: Any, text: str) -> str:
    depth = rng.choice([101, 150, 999, 5_000, 50_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    raw = opener * depth + "1" + closer * depth
    return _dump(_replace_somewhere(rng, document, SENTINEL), raw)


HUGE_NUMBERS = [
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e309",
    "-1e999",
    "5e-324",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "9" * 5_000,
    "1" + "0" * 400 + ".5",
    '"1e308"',
    '"99999999999999999999999999"',
]


def huge_number(rng: random.Random, document: Any, text: str) -> str:
    return _dump(_replace_somewhere(rng, document, SENTINEL), rng.choice(HUGE_NUMBERS))


def huge_range(rng: random.Random, document: Any, text: str) -> str:
    """A sweep bound or repeat pushed to extremes (sizes, overflows)."""
    if isinstance(document, dict) and isinstance(document.get("params"), dict):
        params = document["params"]
        if params:
            name = rng.choice(sorted(params))
            params[name] = rng.choice(
                [
                    {"from": 1e-5, "to": 1e308, "log": True},
                    {"from": 1e-300, "to": 1e308, "log": True, "step": 1.000001},
                    {"from": -1e308, "to": 1e308, "step": 1e300},
                    {"from": 0, "to": 10**12},
                    {"from": 1, "to": 1e308, "step": 1},
                    {"values": list(range(2000))},
                ]
            )
        document["repeat"] = rng.choice([1, 2, 999_999, 10**6, 10**18])
        return _dump(document)
    return huge_number(rng, document, text)


SURROGATES = ["\udcff", "\ud800", "\udfff", "a\udc80b"]


def bad_unicode(rng: random.Random, document: Any, text: str) -> str | bytes:
    choice = rng.randrange(3)
    if choice == 0:  # a lone surrogate in some string value
        strings = [(c, k) for c, k in _locations(document) if isinstance(c[k], str)]
        if strings:
            container, key = rng.choice(strings)
            container[key] = container[key] + rng.choice(SURROGATES)
            return _dump(document)
    if choice == 1:  # ... or in a key
        objects = [c for c, _ in _locations(document) if isinstance(c, dict)]
        if isinstance(document, dict):
            objects.append(document)
        if objects:
            obj = rng.choice(objects)
            if obj:
                key = rng.choice(sorted(obj))
                obj[key + rng.choice(SURROGATES)] = obj.pop(key)
                return _dump(document)
    data = text.encode("utf-8")  # raw bytes that are not UTF-8
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9"]) + data[at:]


def wrong_key(rng: random.Random, document: Any, text: str) -> str:
    objects = [c for c, _ in _locations(document) if isinstance(c, dict)]
    if isinstance(document, dict):
        objects.append(document)
    objects = [o for o in objects if o]
    if not objects:
        return _dump({"graph": document})
    obj = rng.choice(objects)
    key = rng.choice(sorted(obj))
    action = rng.randrange(3)
    if action == 0:
        obj[key[:-1] or "x"] = obj.pop(key)  # misspelt
    elif action == 1:
        del obj[key]  # missing
    else:
        obj[key.upper() + "_extra"] = rng.choice(TYPE_SWAPS)  # unknown
    return _dump(document)


def duplicate_keys(rng: random.Random, document: Any, text: str) -> str:
    if isinstance(document, dict) and document:
        key = rng.choice(sorted(document))
        body = _dump(document)
        return "{" + json.dumps(key) + ": null, " + body[1:]
    return "[" + text


MUTATIONS: list[Mutation] = [
    truncate,
    flip_bytes,
    swap_type,
    deep_nesting,
    huge_number,
    huge_range,
    bad_unicode,
    wrong_key,
    duplicate_keys,
]


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Call:
    case: str
    argv: list[str]
    code: int
    out: str
    err: str


@dataclass
class Tally:
    """Every call made, and those that broke the rules."""

    calls: list[Call] = field(default_factory=list)
    inputs: Counter[str] = field(default_factory=Counter)

    def bad(self) -> list[Call]:
        return [c for c in self.calls if c.code == 5 or TRACEBACK in c.out + c.err]

    def summary(self) -> str:
        codes = Counter(c.code for c in self.calls)
        verbs = Counter(c.argv[0] for c in self.calls)
        return (
            f"{sum(self.inputs.values())} inputs ({dict(self.inputs)}), "
            f"{len(self.calls)} CLI calls ({dict(verbs)}), exit codes {dict(sorted(codes.items()))}, "
            f"{len(self.bad())} tracebacks or exit 5"
        )


def _strict_stream() -> io.TextIOWrapper:
    """A text stream that refuses what a UTF-8 terminal cannot show, as sys.stdout does."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8", "backslashreplace")


def run_cli(tally: Tally, case: str, argv: list[str]) -> Call:
    stdout, stderr = _strict_stream(), _strict_stream()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and --version end through argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            code = -1
            print(f"{TRACEBACK}\nescaped main(): {type(exc).__name__}: {exc}", file=sys.__stderr__)
    call = Call(case, argv, code, _text(stdout), _text(stderr))
    if code == -1:
        call.err += TRACEBACK
    tally.calls.append(call)
    return call


def generated_cases(
    bases: list[Base], workdir: Path, per_base: int
) -> Iterator[tuple[Base, Path]]:
    """``per_base`` mutations of every base, written to files (some as raw bytes)."""
    rng = random.Random(SEED)
    corpus = sorted((REPO / "tests/invalid").glob("*/*.json"))
    for i, base in enumerate(bases):
        for j in range(per_base):
            mutation = MUTATIONS[j % len(MUTATIONS)]
            document = json.loads(base.text)
            result = mutation(rng, document, base.text)
            path = workdir / f"{base.kind}-{i}-{j}-{mutation.__name__}.json"
            if isinstance(result, bytes):
                path.write_bytes(result)
            else:
                path.write_bytes(result.encode("utf-8", "surrogatepass"))
            yield base, path
    # The invalid corpus, mutated once more (its run files against the corpus workflow).
    for k, source in enumerate(rng.sample(corpus, min(len(corpus), 40))):
        kind = "run" if source.parent.name == "runs" else "workflow"
        if source.name == "corpus_workflow.json":
            continue
        raw = source.read_bytes()
        try:
            document = json.loads(raw)
            text = raw.decode("utf-8")
        except (ValueError, RecursionError):
            document, text = None, raw.decode("utf-8", "replace")
        mutation = rng.choice(MUTATIONS)
        result = mutation(rng, document, text)
        path = workdir / f"corpus-{k}-{mutation.__name__}-{source.name}"
        path.write_bytes(
            result if isinstance(result, bytes) else result.encode("utf-8", "surrogatepass")
        )
        wf = workdir / "corpus_workflow.json"
        yield Base(kind, source.name, text, wf if kind == "run" else None), path


def command_lines(workdir: Path, workflows: dict[str, Path]) -> list[list[str]]:
    """Malformed command lines, with argv values as Python sees undecodable bytes."""
    run = str(REPO / "examples/seed-page/sweep.json")
    wf = str(workflows["geoind_workflow"])
    bad = os.fsdecode(b"caf\xe9-\xff")  # surrogateescape: '\udce9', '\udcff'
    directory = str(workdir)
    not_utf8 = workdir / "not-utf8-workflow.json"
    not_utf8.write_bytes(b'{"id": "x\xff", "graph": []}')
    undecodable_file = workdir / os.fsdecode(b"run-\xff.json")
    undecodable_file.write_text(
        (REPO / "examples/seed-page/single.json").read_text(encoding="utf-8")
    )
    lines: list[list[str]] = []
    for verb in ("validate", "expand", "submit"):
        target = [run, "--workflow", wf]
        extra_submit = ["--no-start"] if verb == "submit" else []
        lines += [
            [verb, "--bogus", *target, *extra_submit],
            [verb, *target, "--limit", "99999999999999999999", *extra_submit],
            [verb, *target, "--limit", "-1", *extra_submit],
            [verb, *target, "--limit", "1e3", *extra_submit],
            [verb, *target, f"--{bad}", *extra_submit],
            [verb, *target, "--workflow", str(not_utf8), *extra_submit],
            [verb, *target, "--workflow", directory, *extra_submit],
            [verb, *target, "--workflow", str(workdir / "missing.json"), *extra_submit],
            [verb, directory, *extra_submit],
            [verb, str(workdir / "missing.json"), *extra_submit],
            [verb, bad + ".json", *extra_submit],
            [verb, str(undecodable_file), "--workflow", wf, "--repeat", "0", *extra_submit],
        ]
    for verb in ("expand", "submit"):
        extra_submit = ["--no-start"] if verb == "submit" else []
        target = [run, "--workflow", wf, *extra_submit]
        lines += [
            [verb, *target, "epsilon=0.1", "epsilon=0.2"],
            [verb, *target, f"epsilon={bad}"],
            [verb, *target, f"{bad}=1"],
            [verb, *target, "epsilon="],
            [verb, *target, "=0.1"],
            [verb, *target, "epsilon=1e309"],
            [verb, *target, "epsilon=" + "9" * 5000],
            [verb, *target, "--name", bad],
            [verb, *target, "--notes", bad],
            [verb, *target, "--tags", f"ok,{bad}"],
            [verb, *target, "--repeat", "99999999999999999999999"],
            [verb, *target, "--repeat", "999999"],
            [verb, *target, "--seed", "18446744073709551616"],
            [verb, *target, "--seed", bad],
            [verb, "geoind_workflow:", "--workflow", wf, *extra_submit],
            [verb, ":abc", "--workflow", wf, *extra_submit],
            [verb, "geoind_workflow:1:2", "--workflow", wf, *extra_submit],
            [verb, '{"workflow": "geoind_workflow", "params": ' + "[" * 200, *extra_submit],
            [verb, '{"workflow": "geoind_workflow", "params": ' + "[" * 3000, *extra_submit],
            [
                verb,
                '{"workflow": "geoind_workflow", "name": "\\udcff"}',
                "--workflow",
                wf,
                *extra_submit,
            ],
            [verb, f"geoind_workflow{bad}", *extra_submit],
        ]
    lines += [
        ["get", "runs", "--limit", "99999999999999999999"],
        ["get", "runs", "--limit", "-99999999999999999999"],
        ["nonsense-command"],
        ["help", bad],
        [f"--{bad}"],
        ["validate"],
        ["expand"],
        ["submit"],
    ]
    return lines


def data_rows(home: Path) -> dict[str, int]:
    database = home / "accio.db"
    if not database.exists():
        return {}
    with sqlite3.connect(database) as db:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        return {
            table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in DATA_TABLES
            if table in tables
        }


# --------------------------------------------------------------------------- the test


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ACCIO_HOME", str(home))
    monkeypatch.setenv("ACCIO_PLUGINS", "accio.testing:operators")
    monkeypatch.delenv("ACCIO_SERVER", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return home


def test_malformed_inputs_never_crash_the_cli_nor_write_anything(
    home: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "defs"
    workdir.mkdir()
    bases, workflows = base_definitions(workdir)
    tally = Tally()
    valid_run = str(REPO / "examples/seed-page/single.json")
    per_base = max(6, MUTATED_INPUTS // len(bases))
    for base, path in generated_cases(bases, workdir, per_base=per_base):
        tally.inputs[f"{base.kind} mutations"] += 1
        name = path.name
        if base.kind == "run":
            assert base.workflow is not None
            wf = ["--workflow", str(base.workflow)]
            validated = run_cli(tally, name, ["validate", str(path), *wf])
            run_cli(tally, name, ["expand", str(path), *wf, "--limit", "3"])
            if validated.code != 0:  # a mutation may leave it valid: then submitting is fine
                run_cli(tally, name, ["submit", str(path), *wf, "--no-start"])
        else:
            validated = run_cli(tally, name, ["validate", str(path)])
            if validated.code != 0:
                wf = ["--workflow", str(path)]
                run_cli(tally, name, ["expand", valid_run, *wf, "--limit", "3"])
                run_cli(tally, name, ["submit", valid_run, *wf, "--no-start"])
    for argv in command_lines(workdir, workflows):
        tally.inputs["command lines"] += 1
        run_cli(tally, "argv", argv)

    print(tally.summary())
    bad = tally.bad()
    details = "\n".join(
        f"{c.case}: accio {' '.join(a[:80] for a in c.argv)} -> {c.code}\n{c.err[-800:]}"
        for c in bad[:10]
    )
    assert not bad, f"{len(bad)} calls crashed:\n{details}"
    assert sum(tally.inputs.values()) >= 300
    assert data_rows(home) == dict.fromkeys(data_rows(home), 0), data_rows(home)
    # Every rejection said why, on stderr, in the ERROR: form.
    for call in tally.calls:
        if call.code not in (0, 5):
            assert "ERROR: " in call.err, (call.argv, call.err)


@pytest.mark.parametrize("verb", ["expand", "submit"])
def test_inline_json_longer_than_a_file_name(verb: str, home: Path) -> None:
    inline = '{"workflow": "geoind_workflow", "params": ' + "[" * 3000
    call = run_cli(
        Tally(), "argv", [verb, inline, "--no-start"] if verb == "submit" else [verb, inline]
    )
    assert call.code in (1, 2) and TRACEBACK not in call.err, call.err[-300:]


# Raw bytes in argv, through the real executable: the OS hands Python undecodable bytes.
SUBPROCESS_ARGV: list[list[bytes]] = [
    [b"validate", b"caf\xe9.json"],
    [b"expand", b"geoind_workflow", b"epsilon=\xff"],
    [b"expand", b"geoind_workflow", b"--name", b"\xff\xfe"],
    [b"submit", b"geoind_workflow", b"--tags", b"a,\xff", b"--no-start"],
    [b"expand", b"geoind_workflow", b"--limit", b"99999999999999999999"],
    [b"--\xff"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_ARGV, ids=lambda a: b" ".join(a).decode("latin-1"))
def test_undecodable_argv_through_the_real_executable(
    argv: list[bytes], home: Path, tmp_path: Path
) -> None:
    accio = Path(sys.executable).with_name("accio")
    if not accio.exists():
        pytest.skip("the accio console script is not installed")
    workflow = REPO / "examples/seed-page/geoind_workflow.json"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    extra = [b"--workflow", os.fsencode(workflow)] if argv[0] in (b"expand", b"submit") else []
    proc = subprocess.run(
        [os.fsencode(accio), *argv, *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert TRACEBACK not in stderr
    assert proc.returncode in (1, 2), stderr
    assert stderr.startswith("ERROR: "), stderr
    assert data_rows(home) == dict.fromkeys(data_rows(home), 0)
