"""Run a tracker over a dataset and score it: GOT-10k AO / SR, success AUC, precision, FPS.

Scores equal the got10k toolkit's on the same result files; ``got10k_adapter`` runs our
trackers inside that toolkit, ``baselines`` holds reference trackers.
"""
from autoprune.eval.metrics import Metrics, success_curve
from autoprune.eval.runner import EvalResult, evaluate

__all__ = ["EvalResult", "Metrics", "evaluate", "success_curve"]
