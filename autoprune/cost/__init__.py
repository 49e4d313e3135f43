"""What a tracker costs: per-frame MACs, params, measured and predicted latency.

MACs are counted at the torch dispatch level (:func:`count_macs`), so functional products
(attention matmuls, depthwise cross-correlation, einsum) count as much as layers do; the
module-hook figure papers quote (:func:`count_macs_hooks`, thop convention) sits beside it.
autoprune reports MACs under the name "FLOPs", as tracking papers do.

>>> import trackers                                          # doctest: +SKIP
>>> family = trackers.get("siamrpn")                         # doctest: +SKIP
>>> cost = tracker_cost(family, family.create(), latency=True)  # doctest: +SKIP
>>> rich.print(profile_table(cost))                          # doctest: +SKIP
"""
from autoprune.cost.hooks import count_macs_hooks, thop_macs
from autoprune.cost.latency import Latency, measure_latency, num_threads, tracker_latency
from autoprune.cost.macs import MacCount, MacCounter, block_of, count_macs
from autoprune.cost.predictor import LatencyPredictor, mape
from autoprune.cost.report import BreakdownRow, Cost, format_count, format_macs, profile_table, tracker_cost

__all__ = [
    "BreakdownRow",
    "Cost",
    "Latency",
    "LatencyPredictor",
    "MacCount",
    "MacCounter",
    "block_of",
    "count_macs",
    "count_macs_hooks",
    "format_count",
    "format_macs",
    "mape",
    "measure_latency",
    "num_threads",
    "profile_table",
    "thop_macs",
    "tracker_cost",
    "tracker_latency",
]
