"""Run definitions: parsing (JSON or command line), overrides, and resolution against a workflow."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from accio.config import DEFAULT_MAX_CHILDREN
from accio.definitions.limits import bad_text_message, has_lone_surrogate, printable
from accio.definitions.model import LogBase, Range, RunDef, Single, ValueForm, Values, Workflow
from accio.definitions.problems import Problems, did_you_mean, field_path, json_kind
from accio.definitions.ranges import RangeError, enumerate_range
from accio.definitions.sweep import Axis, Sweep
from accio.errors import ValueParseError
from accio.ops.registry import OperatorRegistry
from accio.seeds import MASK_63
from accio.values.parse import parse_json, parse_text
from accio.values.types import DataType

RUN_KEYS = ("workflow", "name", "notes", "tags", "seed", "repeat", "params")
SINGLE_KEYS = ("value",)
VALUES_KEYS = ("values",)
RANGE_KEYS = ("from", "to", "step", "log", "log2", "log10")
LOG_FLAGS: dict[str, LogBase] = {"log": "e", "log2": "2", "log10": "10"}
MAX_REPEAT = 1_000_000


def parse_run(document: Any, *, file: str | None = None) -> tuple[RunDef | None, Problems]:
    """Structural parse of a run definition document (no workflow needed yet)."""
    problems = Problems(file)
    if isinstance(document, str):
        document = {"workflow": document.strip()}
    if not problems.check_document(document):
        return None, problems
    if not problems.check_object(document, "", "a run definition"):
        return None, problems
    problems.check_keys(document, RUN_KEYS, "")
    workflow = document.get("workflow")
    if workflow is None:
        problems.error(
            "workflow", "missing workflow: the id (or id:version) of the workflow to run"
        )
    elif not isinstance(workflow, str) or not workflow.strip():
        got = "an empty string" if isinstance(workflow, str) else json_kind(workflow)
        problems.error("workflow", f'expected a workflow id such as "geoind", got {got}')
        workflow = None
    elif reason := workflow_spec_problem(workflow):
        problems.error("workflow", reason)
        workflow = None
    name = problems.optional_string(document, "name", "")
    notes = problems.optional_string(document, "notes", "")
    tags = _parse_tags(document.get("tags", []), problems)
    seed = parse_seed(document["seed"], "seed", problems) if "seed" in document else None
    repeat = parse_repeat(document.get("repeat", 1), "repeat", problems)
    params = _parse_params(document.get("params", {}), problems)
    if workflow is None:
        return None, problems
    # Built even when some fields are wrong, so that checking it against its workflow can report
    # the remaining problems too (all errors at once); callers must look at ``problems`` first.
    run = RunDef(
        workflow.strip(), params, name, notes, tags, seed, repeat or 1, file, tuple(problems.items)
    )
    return run, problems


def workflow_spec_problem(spec: str) -> str | None:
    """Why ``spec`` is not ``id`` or ``id:version`` (None when it is): an empty version
    (``wf:``) must not silently mean "the latest"."""
    wf_id, colon, version = spec.strip().partition(":")
    if ":" in version:
        return f"invalid workflow specification {spec!r}: use id or id:version"
    if not wf_id:
        return f"invalid workflow specification {spec!r}: the workflow id before ':' is empty"
    if colon and not version.strip():
        return (
            f"invalid workflow specification {spec!r}: the version after ':' is empty "
            "(give one, or drop the ':' for the latest)"
        )
    return None


def _parse_tags(raw: Any, problems: Problems) -> tuple[str, ...]:
    if not isinstance(raw, list):
        problems.error("tags", f"expected an array of strings, got {json_kind(raw)}")
        return ()
    tags: list[str] = []
    for i, tag in enumerate(raw):
        if not isinstance(tag, str) or not tag.strip():
            got = "an empty string" if isinstance(tag, str) else json_kind(tag)
            problems.error(f"tags[{i}]", f"expected a non-empty string, got {got}")
        elif tag.strip() not in tags:
            tags.append(tag.strip())
    return tuple(tags)


def parse_seed(raw: Any, path: str, problems: Problems) -> int | None:
    """A seed is any 64-bit integer, as a number or a decimal string (decisions.md §2)."""
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str):
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            value = None
    if value is None or not -(2**63) <= value < 2**64:
        problems.error(
            path,
            f"expected a 64-bit integer seed (number or decimal string), got {json.dumps(raw)}",
        )
        return None
    # Negative and 64-bit seeds are folded into the 63-bit space used everywhere else.
    return value & MASK_63 if value < 0 or value > MASK_63 else value


def parse_repeat(raw: Any, path: str, problems: Problems) -> int | None:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_REPEAT:
        problems.error(
            path, f"expected an integer between 1 and {MAX_REPEAT:,}, got {json.dumps(raw)}"
        )
        return None
    return raw


def _parse_params(raw: Any, problems: Problems) -> tuple[tuple[str, ValueForm], ...]:
    if not isinstance(raw, dict):
        problems.error(
            "params", f"expected an object mapping parameter names to values, got {json_kind(raw)}"
        )
        return ()
    forms: list[tuple[str, ValueForm]] = []
    for name, value in raw.items():
        form = parse_value_form(value, field_path("params", name), problems)
        if form is not None:
            forms.append((name, form))
    return tuple(forms)


def parse_value_form(value: Any, path: str, problems: Problems) -> ValueForm | None:
    """``{"value"}``, ``{"values"}``, ``{"from", "to", "step", "log*"}`` or a bare value."""
    if not isinstance(value, dict):
        if value is None:
            problems.error(path, "expected a value, got null")
            return None
        return Single(value)
    allowed = (*SINGLE_KEYS, *VALUES_KEYS, *RANGE_KEYS)
    kinds = [
        kind
        for kind, keys in (("value", SINGLE_KEYS), ("values", VALUES_KEYS), ("range", RANGE_KEYS))
        if any(k in value for k in keys)
    ]
    if not kinds and any(did_you_mean(k, allowed) for k in value):
        problems.check_keys(value, allowed, path)  # a misspelt key: say which one was meant
        return None
    if not kinds:
        got = f"an object with keys {', '.join(map(repr, value))}" if value else "an empty object"
        problems.error(
            path,
            'expected {"value": X}, {"values": [...]} or {"from": A, "to": B, "step": S}, got '
            f'{got}; a map value must be written {{"value": {{...}}}}',
        )
        return None
    problems.check_keys(value, allowed, path)
    if len(kinds) > 1:
        problems.error(path, f"conflicting value forms: {' and '.join(kinds)}; use exactly one")
        return None
    if kinds[0] == "value":
        if value["value"] is None:
            problems.error(field_path(path, "value"), "expected a value, got null")
            return None
        return Single(value["value"], wrapped=True)
    if kinds[0] == "values":
        raws = value["values"]
        if not isinstance(raws, list):
            problems.error(
                field_path(path, "values"), f"expected an array of values, got {json_kind(raws)}"
            )
            return None
        if not raws:
            problems.error(field_path(path, "values"), "empty list: give at least one value")
            return None
        return Values(tuple(raws))
    return _parse_range(value, path, problems)


def _parse_range(value: Mapping[str, Any], path: str, problems: Problems) -> Range | None:
    ok = True
    for key in ("from", "to"):
        if key not in value:
            problems.error(field_path(path, key), f"missing {key!r}: a range needs from and to")
            ok = False
    flags = [k for k in LOG_FLAGS if k in value]
    for flag in flags:
        if not isinstance(value[flag], bool):
            problems.error(
                field_path(path, flag), f"expected true or false, got {json_kind(value[flag])}"
            )
            ok = False
    on = [k for k in flags if value[k] is True]
    if len(on) > 1:
        problems.error(path, f"several log flags ({', '.join(on)}): use one of log, log2, log10")
        ok = False
    if not ok:
        return None
    log = LOG_FLAGS[on[0]] if on else None
    return Range(value["from"], value["to"], value.get("step"), log)


def apply_overrides(
    run: RunDef,
    *,
    name: str | None = None,
    notes: str | None = None,
    tags: Sequence[str] = (),
    repeat: int | None = None,
    seed: int | None = None,
    params: Sequence[tuple[str, str]] = (),
    source: str = "<command line>",
) -> RunDef:
    """Command-line flags and ``k=v`` parameters over a run definition (flags win; cli.md).

    A parameter given twice (``eps=0.1 eps=0.2``) and text that is not valid Unicode (bytes
    that are not UTF-8 in argv) are definition errors naming ``source`` and the field.
    """
    _check_overrides(source, name, notes, tags, params)
    merged = dict(run.params)
    order = [k for k, _ in run.params]
    for key, text in params:
        if key not in merged:
            order.append(key)
        merged[key] = Single(text, from_text=True)
    all_tags = list(run.tags)
    all_tags.extend(t for t in tags if t and t not in all_tags)
    return replace(
        run,
        params=tuple((k, merged[k]) for k in order),
        name=run.name if name is None else name,
        notes=run.notes if notes is None else notes,
        tags=tuple(all_tags),
        repeat=run.repeat if repeat is None else repeat,
        seed=run.seed if seed is None else seed,
    )


def _check_overrides(
    source: str,
    name: str | None,
    notes: str | None,
    tags: Sequence[str],
    params: Sequence[tuple[str, str]],
) -> None:
    problems = Problems(source)
    texts = [("name", name), ("notes", notes), *((f"tags[{i}]", t) for i, t in enumerate(tags))]
    for path, text in texts:
        if text is not None and has_lone_surrogate(text):
            problems.error(path, bad_text_message(text))
    first: dict[str, str] = {}
    for key, text in params:
        path = field_path("params", printable(key))
        if has_lone_surrogate(key) or has_lone_surrogate(text):
            problems.error(path, bad_text_message(key if has_lone_surrogate(key) else text))
        elif key in first:
            problems.error(
                path,
                f"parameter {key!r} is given twice ({first[key]!r} and {text!r}); give it once "
                '(a sweep is written {"values": [...]} in a run file)',
            )
        else:
            first[key] = text
    problems.raise_if_errors()


def resolve_run(
    run: RunDef,
    workflow: Workflow,
    registry: OperatorRegistry,
    *,
    seed: int | None = None,
    problems: Problems | None = None,
    max_children: int = DEFAULT_MAX_CHILDREN,
) -> Sweep:
    """Check a run against its workflow and build its (lazy) sweep; raises DefinitionError.

    ``seed`` is the seed to use when the definition has none (a fresh random one by default).
    ``problems`` are those already found while parsing, reported together with these.
    ``max_children`` (``Settings.max_children``) caps the number of children: it is checked
    from the axis sizes and ``repeat`` before any child, or any axis encoding, is built.
    """
    problems = problems if problems is not None else Problems(run.file)
    problems.items.extend(run.problems)
    declared = {p.name: p for p in workflow.params}
    axis_values: list[tuple[str, DataType, tuple[Any, ...]]] = []
    given: set[str] = set()
    for name, form in run.params:
        path = field_path("params", name)
        param = declared.get(name)
        if param is None:
            known = ", ".join(declared) or "none"
            problems.error(
                path,
                f"unknown parameter {name!r}{did_you_mean(name, declared)}; "
                f"workflow {workflow.id} declares: {known}",
            )
            continue
        given.add(name)
        values = _expand_form(form, param.kind, path, problems)
        if values is None:
            continue
        bad = False
        for port_path, reason in _constraint_violations(workflow, registry, name, values):
            problems.error(path, f"{reason} (feeds {port_path})")
            bad = True
        if not bad:
            axis_values.append((name, param.kind, values))
    for param in workflow.params:
        if param.name not in given and not param.optional:
            problems.error(
                field_path("params", param.name),
                f"missing required parameter {param.name!r} ({param.kind}): it has no default",
            )
    _check_size(run, [len(values) for _, _, values in axis_values], max_children, problems)
    problems.raise_if_errors()
    axes = [Axis.build(name, kind, values) for name, kind, values in axis_values]
    defaults = {
        p.name: p.default for p in workflow.params if p.name not in given and p.has_default
    }
    from accio.seeds import random_seed

    run_seed = run.seed if run.seed is not None else (seed if seed is not None else random_seed())
    return Sweep(
        workflow=workflow,
        axes=tuple(axes),
        defaults=defaults,
        repeat=run.repeat,
        run_seed=run_seed,
        seed_given=run.seed is not None,
        run=run,
        warnings=tuple(problems.warnings),
    )


def child_count(axis_sizes: Sequence[int], repeat: int) -> int:
    """Children of a sweep: the product of its axis sizes times ``repeat`` (exact, nothing
    built)."""
    return math.prod(axis_sizes) * repeat


def _check_size(
    run: RunDef, axis_sizes: Sequence[int], max_children: int, problems: Problems
) -> None:
    count = child_count(axis_sizes, run.repeat)
    if count <= max_children:
        return
    factors = [f"{n:,}" for n in axis_sizes if n > 1] or ["1"]
    if run.repeat > 1:
        factors.append(f"repeat {run.repeat:,}")
    combinations = math.prod(axis_sizes)
    path = "repeat" if run.repeat > 1 and combinations <= max_children else "params"
    problems.error(
        path,
        f"the sweep has {count:,} children ({' x '.join(factors)}), more than the limit of "
        f"{max_children:,} (ACCIO_MAX_CHILDREN)",
    )


def _expand_form(
    form: ValueForm, dtype: DataType, path: str, problems: Problems
) -> tuple[Any, ...] | None:
    try:
        if isinstance(form, Single):
            if form.from_text:
                return (parse_text(dtype, str(form.raw)),)
            if isinstance(form.raw, list) and dtype.base not in ("list", "set"):
                problems.error(
                    f"{path}.value" if form.wrapped else path,
                    f"expected a single {dtype} value, got an array; a sweep is written "
                    '{"values": [...]}',
                )
                return None
            return (parse_json(dtype, form.raw),)
        if isinstance(form, Values):
            out: dict[Any, None] = {}  # first-occurrence order, duplicates dropped
            failed = False
            for i, raw in enumerate(form.raws):
                try:
                    out.setdefault(parse_json(dtype, raw))
                except ValueParseError as exc:
                    problems.error(f"{path}.values[{i}]", f"invalid {dtype}: {exc}")
                    failed = True
            return None if failed else tuple(out)
        try:
            return enumerate_range(dtype, form)
        except RangeError as exc:
            problems.error(field_path(path, exc.field), str(exc))
            return None
    except ValueParseError as exc:
        where = f"{path}.value" if isinstance(form, Single) and form.wrapped else path
        problems.error(where, f"invalid {dtype}: {exc}")
        return None


def _constraint_violations(
    workflow: Workflow, registry: OperatorRegistry, param: str, values: Sequence[Any]
) -> list[tuple[str, str]]:
    """Port constraints of every input the parameter feeds, checked at run creation (§14)."""
    from accio.definitions.model import ParamRef

    out: list[tuple[str, str]] = []
    for node in workflow.nodes:
        spec = registry.get(node.op)
        if spec is None:
            continue
        for port_name, inp in node.inputs.items():
            if isinstance(inp, ParamRef) and inp.name == param:
                port = spec.input(port_name)
                if port is None:
                    continue
                for value in values:
                    if reason := port.check(value):
                        out.append((f"{node.name}.{port_name}", f"{param} {reason}"))
                        break
    return out
