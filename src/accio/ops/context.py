"""What an operator sees while it runs: its seed and generators, a scratch directory, a logger."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accio.errors import AccioError
from accio.seeds import derive_trace_seed


class SeedUnavailableError(AccioError):
    """A stable operator asked for a seed; only unstable operators receive one."""


@dataclass
class OperatorContext:
    """Per-execution context handed to ``Operator.run``.

    ``seed`` exists only for unstable operators. Per-trace randomness must come from
    :meth:`trace_rng`, so that a trace's noise depends on (node seed, trace id) only, not on which
    other traces are in the dataset or in what order they are processed.
    """

    operator: str
    unstable: bool
    node_seed: int | None
    scratch_root: Path | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("accio.operator"))
    _workdir: Path | None = field(default=None, init=False, repr=False)

    @property
    def workdir(self) -> Path:
        """A fresh scratch directory, created on first use and removed after the run."""
        if self._workdir is None:
            self._workdir = Path(
                tempfile.mkdtemp(prefix=f"accio-{self.operator}-", dir=self.scratch_root)
            )
        return self._workdir

    def cleanup(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def seed(self) -> int:
        if not self.unstable or self.node_seed is None:
            raise SeedUnavailableError(
                f"operator {self.operator} is not declared unstable and has no seed"
            )
        return self.node_seed

    def rng(self) -> np.random.Generator:
        """A generator seeded with the node seed."""
        return np.random.default_rng(self.seed)

    def trace_rng(self, trace_id: str) -> np.random.Generator:
        """A generator for one trace, keyed on (node seed, trace id) (decisions.md §9)."""
        return np.random.default_rng(self.trace_seed(trace_id))

    def trace_seed(self, trace_id: str) -> int:
        """The 63-bit seed of one trace, for kernels that run their own generator (numba)."""
        return derive_trace_seed(self.seed, trace_id)

    def log(self, message: str) -> None:
        """A line in the node's log."""
        print(message, flush=True)
