"""Automatic configuration tuning on top of ordinary runs (an ALP-style tuner with Optuna).

A study searches a workflow's parameters for the configurations that optimise one or more
**objectives** under **constraints**, both stated on the outputs of its nodes (``"Node/port"``)
or on its parameters: "the smallest epsilon whose spatial distortion stays below 300 m". Every
evaluation is an ordinary run submitted through the client contract, so it is memoized,
resumable, visible in the web UI and exportable (:mod:`accio.client.tuning.study`).

::

    from accio.client.client import Client
    from accio.client.tuning import tune_from_file

    result = tune_from_file(Client(), "examples/tune/tune.json", budget=10)
    print(result.summary())          # the best configuration and, with several objectives,
    result.front, result.best        # the Pareto front

The search is Optuna's TPE sampler (Bergstra et al., NeurIPS 2011; constrained variant of
Watanabe & Hutter, 2023) seeded by the study seed, or random search. Stating objectives as
metric constraints and searching an LPPM's parameter space is the idea of ALP (Primault, Boutet,
Ben Mokhtar, Brunie, "Adaptive location privacy with ALP", SRDS 2016). Optuna is an optional
dependency (``pip install 'accio[tune]'``), imported only when a study runs.
"""

from __future__ import annotations

from accio.client.tuning.result import (
    Evaluation,
    TuneResult,
    choose_best,
    format_evaluation,
    pareto_front,
)
from accio.client.tuning.spec import Constraint, Objective, Param, TuneSpec
from accio.client.tuning.study import (
    INSTALL_HINT,
    MissingDependency,
    import_optuna,
    tune,
    tune_from_file,
)

__all__ = [
    "INSTALL_HINT",
    "Constraint",
    "Evaluation",
    "MissingDependency",
    "Objective",
    "Param",
    "TuneResult",
    "TuneSpec",
    "choose_best",
    "format_evaluation",
    "import_optuna",
    "pareto_front",
    "tune",
    "tune_from_file",
]
