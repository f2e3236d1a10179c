"""Wiring: storage, artifact store, registry, control channel and executor for one Accio home."""

from __future__ import annotations

from dataclasses import dataclass, field

from accio.cache.artifacts import ArtifactStore
from accio.cache.fingerprint import use_cache_file
from accio.cache.stores import open_settings_store, store_locator
from accio.cache.verify import guard_cache_hits
from accio.config import BATCH_EXECUTORS, ExecutorName, Settings
from accio.engine.control import ControlChannel
from accio.engine.scheduler import Scheduler
from accio.executors.base import Executor
from accio.ops.api import Resources
from accio.ops.registry import OperatorRegistry, default_registry
from accio.storage.base import Storage
from accio.storage.sqlite import open_storage


@dataclass
class Runtime:
    settings: Settings
    storage: Storage
    artifacts: ArtifactStore
    registry: OperatorRegistry
    control: ControlChannel = field(init=False)

    def __post_init__(self) -> None:
        self.control = ControlChannel(self.settings.home)

    @property
    def capacity(self) -> Resources:
        """What may run at once: this machine's (``cpus``, ``memory_mb``), or with a batch
        executor the cluster's largest size (``max_workers`` jobs of ``job_cores`` and
        ``job_memory`` each)."""
        s = self.settings
        if s.executor in BATCH_EXECUTORS:
            return Resources(
                float(s.max_workers * s.job_cores), s.max_workers * s.job_memory_mb, 0
            )
        return Resources(float(s.cpus), s.memory_mb, 0)

    def executor(self, name: ExecutorName | None = None) -> Executor:
        """The executor ``name`` (default: the settings' ``executor``, ``$ACCIO_EXECUTOR``).

        ``dask`` connects to ``$ACCIO_DASK_SCHEDULER``, or starts a ``LocalCluster`` of
        ``cpus`` single-threaded worker processes when no address is set. ``slurm``, ``pbs``
        and ``sge`` start an adaptive dask-jobqueue cluster (:mod:`accio.executors.jobqueue`).
        """
        chosen = name or getattr(self.settings, "executor", "local")
        root = store_locator(self.settings)  # workers open the store themselves
        if chosen == "inline":
            from accio.executors.inline import InlineExecutor

            return InlineExecutor(root, self.registry)
        if chosen == "dask":
            from accio.executors.dask import DaskExecutor

            address = getattr(self.settings, "dask_address", None)
            return DaskExecutor.connect(address, root, workers=self.settings.cpus)
        if chosen in BATCH_EXECUTORS:
            from accio.executors.jobqueue import connect_jobqueue

            return connect_jobqueue(self.settings, root, chosen)
        from accio.executors.local import LocalExecutor

        # Settings built without the environment (tests) leave the workers $ACCIO_PLUGINS.
        plugins = self.settings.plugins or None
        return LocalExecutor(root, slots=self.settings.cpus, plugins=plugins)

    def scheduler(self, *, control: bool = False, executor: Executor | None = None) -> Scheduler:
        return Scheduler(
            self.storage,
            executor or self.executor(),
            self.registry,
            self.capacity,
            control=self.control if control else None,
        )

    def close(self) -> None:
        self.storage.close()


def open_runtime(settings: Settings, registry: OperatorRegistry | None = None) -> Runtime:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    storage, store = open_storage(settings), open_settings_store(settings)
    guard_cache_hits(storage, store)  # a hit on a damaged or missing artifact is a miss
    use_cache_file(settings.home / "fingerprints.sqlite3")  # hashes of files nodes read
    if registry is None:  # the settings' plugin list, as the scheduler's workers load it
        registry = default_registry(settings.plugins)
    return Runtime(settings, storage, store, registry)
