"""Running one task inside a worker: load the operator, stage inputs, run, store outputs.

This is the only code that calls operator implementations. It returns a :class:`TaskResult` and
never raises for operator failures: an exception becomes a ``failed`` result whose stack trace is
trimmed to the operator's own frames.

Dataset inputs are read through the artifact store, which checks every byte against its digest.
A damaged or missing input fails the node (not the worker) with ``error["reason"] ==
"corrupt_input"`` and the ``digest``, so the scheduler can tell it from an operator bug: the
producer of that digest, not this node, has to run again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from accio.cache.artifacts import ArtifactStore, CorruptArtifact
from accio.cache.stores import open_store
from accio.errors import NotFoundError, ValueParseError
from accio.executors.base import UNKNOWN_CODE, LogEntry, NodeTask, TaskLogs, TaskResult
from accio.ops.api import OperatorSpec
from accio.ops.context import OperatorContext
from accio.ops.registry import OperatorRegistry, default_registry, is_stale
from accio.values.canonical import from_canonical, to_canonical
from accio.values.parse import check_value, parse_json
from accio.values.types import Dataset, DataType, FrozenMap

_stores: dict[str, ArtifactStore] = {}
#: One instance per operator class (the class, not its id: a reloaded plugin's new class may
#: reuse a freed id).
_instances: dict[type, Any] = {}
#: Code hash of each operator class this worker ran (see :func:`ran_code`).
_code_hashes: dict[type, str] = {}
#: ``Settings.plugins`` as handed to this worker by its executor (None: ``$ACCIO_PLUGINS``).
_plugins: str | None = None

#: Seconds between two sends of a running node's new log lines (``accio logs -f``).
LIVE_INTERVAL = 0.25

#: Environment variable holding the batch job id, per batch system.
JOB_ID_VARIABLES = (("slurm", "SLURM_JOB_ID"), ("pbs", "PBS_JOBID"), ("sge", "JOB_ID"))


def batch_job(env: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """(system, job id) of the batch job this process runs in, or None outside one."""
    for system, variable in JOB_ID_VARIABLES:
        job = env.get(variable, "").strip()
        if job:
            return system, job
    return None


def ran_on(env: Mapping[str, str] = os.environ) -> str:
    """Where a task runs, as its node records it: ``"slurm job 1234 on HOST"`` inside a batch
    job (the job a user can look up or cancel), else ``"HOST pid PID"``."""
    job = batch_job(env)
    if job is not None:
        return f"{job[0]} job {job[1]} on {socket.gethostname()}"
    return f"{socket.gethostname()} pid {os.getpid()}"


def use_plugins(plugins: str | None) -> OperatorRegistry:
    """Load the executor's plugin list in this worker, fresh: a worker forked from a server
    that imported older plugin code re-imports what changed on disk since."""
    global _plugins
    _plugins = plugins
    registry = default_registry(plugins)
    registry.refresh()
    return registry


def worker_registry() -> OperatorRegistry:
    """Operators as this worker process sees them (installed plugins plus the plugin list)."""
    return default_registry(_plugins)


class LivePump:
    """A thread that sends the running task's new lines every ``interval`` seconds.

    A thread rather than a send per ``write``: a line printed before a long silent
    computation shows at once, and a task that prints many lines costs one message per
    interval. A task that ends before the next tick sends its lines with its result only,
    so short nodes cost nothing extra.
    """

    def __init__(self, send: Any, interval: float = LIVE_INTERVAL) -> None:
        self._send = send
        self._interval = interval
        self._lock = threading.Lock()
        self._task: int | None = None
        self._sink: list[LogEntry] = []
        self._sent = 0
        self._closed = False
        threading.Thread(target=self._loop, name="accio-live-logs", daemon=True).start()

    def close(self) -> None:
        """Stop the thread at its next tick (a pump per task, as on Dask)."""
        self._closed = True

    def begin(self, task_id: int, sink: list[LogEntry]) -> None:
        with self._lock:
            self._task, self._sink, self._sent = task_id, sink, 0

    def end(self) -> int:
        """The task is over: how many of its lines were already sent."""
        with self._lock:
            sent, self._task, self._sink, self._sent = self._sent, None, [], 0
            return sent

    def _loop(self) -> None:
        while not self._closed:
            time.sleep(self._interval)
            with self._lock:
                if self._task is None or len(self._sink) <= self._sent:
                    continue
                lines = tuple(self._sink[self._sent :])
                self._sent += len(lines)
                try:
                    self._send(TaskLogs(self._task, lines))
                except Exception:  # the pipe is gone: the worker is about to exit
                    return


def _store(root: str) -> ArtifactStore:
    """The store a locator names (a folder or an ``s3://`` URL), opened once per worker."""
    store = _stores.get(root)
    if store is None:
        store = _stores[root] = open_store(root)
    return store


class _LineCapture(io.TextIOBase):
    """Collects whole lines written to stdout or stderr, with their time."""

    def __init__(self, stream: str, sink: list[tuple[float, str, str]]) -> None:
        self.stream = stream
        self.sink = sink
        self.partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = self.partial + text
        *lines, self.partial = data.split("\n")
        now = time.time()
        self.sink.extend((now, self.stream, line) for line in lines)
        return len(text)

    def close_line(self) -> None:
        if self.partial:
            self.sink.append((time.time(), self.stream, self.partial))
            self.partial = ""


@contextmanager
def _captured(sink: list[tuple[float, str, str]]) -> Iterator[None]:
    out, err = _LineCapture("stdout", sink), _LineCapture("stderr", sink)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        out.close_line()
        err.close_line()


def execute_task(
    task: NodeTask,
    artifacts_root: str,
    registry: OperatorRegistry | None = None,
    live: LivePump | None = None,
) -> TaskResult:
    """Run one task to a result; operator exceptions become ``failed`` results.

    With ``live``, lines are streamed while the task runs; the result holds the rest.
    """
    logs: list[LogEntry] = []
    if live is None:
        return _execute(task, artifacts_root, registry, logs)
    live.begin(task.task_id, logs)
    try:
        result = _execute(task, artifacts_root, registry, logs)
    finally:
        sent = live.end()
    if sent:
        result = replace(result, logs=tuple(logs[sent:]))
    return result


def _execute(
    task: NodeTask,
    artifacts_root: str,
    registry: OperatorRegistry | None,
    logs: list[LogEntry],
) -> TaskResult:
    started = time.time()
    cpu0 = time.process_time()
    where = ran_on()
    code_hash = ""
    try:
        spec = (registry or worker_registry()).require(task.op)
        code_hash = ran_code(spec)
        store = _store(artifacts_root)
        inputs = _stage_inputs(spec, task.inputs, store)
        instance = _instances.get(spec.impl)
        if instance is None:
            instance = _instances[spec.impl] = spec.instantiate()
        ctx = OperatorContext(spec.name, spec.unstable, task.seed)
        try:
            with _captured(logs):
                raw = instance.run(inputs, ctx)
        finally:
            ctx.cleanup()
        outputs, artifacts = _store_outputs(spec, raw, store)
    except CorruptInput as exc:
        return TaskResult(
            task.task_id,
            "failed",
            logs=tuple(logs),
            error=exc.describe(),
            started=started,
            finished=time.time(),
            cpu_seconds=time.process_time() - cpu0,
            ran_on=where,
            code_hash=code_hash,
        )
    except Exception as exc:
        return TaskResult(
            task.task_id,
            "failed",
            logs=tuple(logs),
            error=describe_exception(exc),
            started=started,
            finished=time.time(),
            cpu_seconds=time.process_time() - cpu0,
            ran_on=where,
            code_hash=code_hash,
        )
    return TaskResult(
        task.task_id,
        "success",
        outputs=json.dumps(outputs, sort_keys=True, separators=(",", ":")),
        artifacts=tuple(artifacts),
        logs=tuple(logs),
        started=started,
        finished=time.time(),
        cpu_seconds=time.process_time() - cpu0,
        ran_on=where,
        code_hash=code_hash,
    )


def ran_code(spec: OperatorSpec) -> str:
    """The code hash of the operator class this worker runs: "" when it has no source (the
    scheduler then keeps the planned key, computed the same way), :data:`UNKNOWN_CODE` when
    its module changed on disk since this worker imported it (the result is then not
    memoized: the code that ran can no longer be hashed).

    :attr:`OperatorSpec.code_hash` reads the source file, which may have been edited since
    the class was imported; it is never taken for the hash of code that does not run. Known
    hashes are kept per class, read before the task runs.
    """
    impl = spec.impl
    known = _code_hashes.get(impl)
    if known is not None:
        return known
    module = impl.__module__
    if is_stale(module):
        return UNKNOWN_CODE
    code_hash = spec.code_hash
    if is_stale(module):  # edited while it was being read
        return UNKNOWN_CODE
    if code_hash == hashlib.sha256(f"{module}.{impl.__qualname__}".encode()).hexdigest():
        return ""  # no source to hash: code_hash names the class, not its code
    _code_hashes[impl] = code_hash
    return code_hash


class CorruptInput(CorruptArtifact):
    """A dataset input is damaged (quarantined by the store) or missing: the node cannot run."""

    def __init__(self, port: str, digest: str, reason: str) -> None:
        self.port = port
        super().__init__(digest, reason)
        self.args = (
            f"input {port!r}: artifact {digest} is {reason}; re-submitting the run re-executes "
            "the node that produced it (damaged files are kept in the store's quarantine)",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.port, self.digest, self.reason))

    def describe(self) -> dict[str, Any]:
        """The ``error`` of the failed node: no stack trace, the producer is at fault."""
        return {
            "classifier": "CorruptInput",
            "message": str(self),
            "stacktrace": "",
            "causes": [],
            "reason": "corrupt_input",
            "digest": self.digest,
            "port": self.port,
        }


def _stage_inputs(
    spec: OperatorSpec, given: dict[str, Any], store: ArtifactStore
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for port in spec.inputs:
        if port.name in given:
            typed = given[port.name]
            value = from_canonical(port.dtype, typed["value"])
            try:
                inputs[port.name] = _load_datasets(port.dtype, value, store)
            except CorruptArtifact as exc:
                raise CorruptInput(port.name, exc.digest, f"corrupt ({exc.reason})") from None
            except NotFoundError:
                raise CorruptInput(port.name, value.ref, "missing from the store") from None
        elif port.has_default:
            inputs[port.name] = port.default
        elif port.optional:
            inputs[port.name] = None
        else:
            raise ValueError(f"missing required input {port.name!r}")
    return inputs


def _load_datasets(dtype: DataType, value: Any, store: ArtifactStore) -> Any:
    if dtype.base == "dataset" and isinstance(value, Dataset):
        return store.get_table(value.ref)
    return value


def _store_outputs(
    spec: OperatorSpec, raw: Any, store: ArtifactStore
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    if not isinstance(raw, dict):
        raise TypeError(f"{spec.name}.run must return a dict of outputs, got {type(raw).__name__}")
    unknown = set(raw) - {p.name for p in spec.outputs}
    if unknown:
        raise ValueError(f"{spec.name} returned undeclared outputs: {', '.join(sorted(unknown))}")
    outputs: dict[str, Any] = {}
    artifacts: list[tuple[str, int]] = []
    for port in spec.outputs:
        if port.name not in raw or raw[port.name] is None:
            raise ValueError(f"{spec.name} did not produce its output {port.name!r}")
        value = raw[port.name]
        if port.dtype.base == "dataset":
            value = _as_dataset(value, store, artifacts)
        else:
            value = _as_value(port.dtype, value, f"{spec.name}.{port.name}")
        outputs[port.name] = {"type": str(port.dtype), "value": to_canonical(port.dtype, value)}
    return outputs, artifacts


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, dicts and sequences as plain JSON-like Python values."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()  # numpy scalar or array
    if isinstance(value, Mapping) and not isinstance(value, FrozenMap):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in value]
    return value


def _as_value(dtype: DataType, value: Any, where: str) -> Any:
    """An operator's output in its declared type (plain dicts, lists and numpy values accepted)."""
    try:
        check_value(dtype, value)
        return value
    except ValueParseError:
        pass
    try:
        return parse_json(dtype, _plain(value))
    except ValueParseError as exc:
        raise TypeError(f"output {where} is not a valid {dtype}: {exc}") from None


def _as_dataset(value: Any, store: ArtifactStore, artifacts: list[tuple[str, int]]) -> Dataset:
    import pyarrow as pa

    if isinstance(value, Dataset):
        return value
    if not isinstance(value, pa.Table):
        if hasattr(value, "__dataframe__") or type(value).__name__ == "DataFrame":
            value = pa.Table.from_pandas(value, preserve_index=False)
        else:
            raise TypeError(
                f"a dataset output must be a pyarrow.Table, got {type(value).__name__}"
            )
    digest = store.put_table(value)
    artifacts.append((digest, store.size(digest)))
    return Dataset(digest)


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """Classifier, message, causes, and a stack trace without Accio's own frames."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "/accio/executors/" not in f.filename.replace("\\", "/")
    ]
    causes: list[dict[str, str]] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 5:
        causes.append({"classifier": type(cause).__name__, "message": str(cause)})
        cause = cause.__cause__ or cause.__context__
    return {
        "classifier": type(exc).__name__,
        "message": str(exc),
        "stacktrace": "".join(traceback.format_list(frames)),
        "causes": causes,
    }
