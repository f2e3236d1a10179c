"""Privacy and utility metrics: how a protected dataset (``test``) compares with its original
(``train``).

Conventions shared by every metric here:

* Trace metrics pair ``train`` and ``test`` traces **by id**. A trace present on one side only is
  treated as empty on the other side (a mechanism or a transform may drop every event of a trace,
  and a table cannot hold an empty trace), so the F-score and completeness edge cases below apply.
* Per-trace results are ``map(string, double)`` keyed by trace id. Each metric also has one or
  more summary ``double`` outputs (``mean...``) for plotting sweeps.
* Distances are ground metres (haversine on the mean Earth radius). The original Accio measured
  them in a Web-Mercator plane, which inflates them by ``1/cos(latitude)`` (locapriv.md §0).
* F-score rows: ``precision = matched / |test|`` (1 when the test set is empty),
  ``recall = matched / |train|`` (0 when the train set is empty), ``F = 2PR / (P + R)`` (0 when P
  or R is 0).
* Output values must be finite: where the original reported NaN (a user on one side only), the
  entry is left out of the map and of the averages, and the node log says how many were left out.
"""

from __future__ import annotations

from accio_locapriv.metrics._common import (
    TracePairs,
    fscores,
    pair_traces,
    trace_stats,
    user_of,
)
from accio_locapriv.metrics.coverage import (
    AreaCoverage,
    area_coverage,
)
from accio_locapriv.metrics.distortion import (
    DataCompleteness,
    SpatialDistortion,
    SpatioTemporalDistortion,
    TransmissionDelay,
)
from accio_locapriv.metrics.heatmap import (
    HEATMAP_DISTANCES,
    HeatMapDistortion,
    heatmap_distance,
)
from accio_locapriv.metrics.mmc import (
    MmcReident,
)
from accio_locapriv.metrics.poi_attacks import (
    PoisReident,
    PoisRetrieval,
)
from accio_locapriv.metrics.queries import (
    CountQueriesDistortion,
)
from accio_locapriv.metrics.reident import (
    ApAttack,
    Uniqueness,
)

__all__ = [
    "HEATMAP_DISTANCES",
    "OPERATORS",
    "ApAttack",
    "AreaCoverage",
    "CountQueriesDistortion",
    "DataCompleteness",
    "HeatMapDistortion",
    "MmcReident",
    "PoisReident",
    "PoisRetrieval",
    "SpatialDistortion",
    "SpatioTemporalDistortion",
    "TracePairs",
    "TransmissionDelay",
    "Uniqueness",
    "area_coverage",
    "fscores",
    "heatmap_distance",
    "pair_traces",
    "trace_stats",
    "user_of",
]

OPERATORS: list[type] = [
    ApAttack,
    AreaCoverage,
    CountQueriesDistortion,
    DataCompleteness,
    HeatMapDistortion,
    MmcReident,
    PoisReident,
    PoisRetrieval,
    SpatialDistortion,
    SpatioTemporalDistortion,
    TransmissionDelay,
    Uniqueness,
]
