"""What a run holds to validate or export, said in one line when it holds nothing usable.

An empty table and exit status 0 reads as success; a run with no completed trial, or a
trial that failed or is still running, is a user error with a reason and what to do.
"""
from __future__ import annotations

from collections import Counter

import optuna

from autoprune.errors import ConfigError

State = optuna.trial.TrialState
_WORDS = {State.COMPLETE: "complete", State.FAIL: "failed", State.PRUNED: "pruned", State.RUNNING: "running",
          State.WAITING: "waiting"}


def describe_states(study: optuna.Study) -> str:
    """``5 trials: 3 failed, 2 running`` (every state present, most common first)."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(_WORDS[t.state] for t in trials)
    return f"{len(trials)} trials" + (": " + ", ".join(f"{n} {state}" for state, n in counts.most_common()) if counts else "")


def check_something_to_validate(run_dir, study: optuna.Study, trials: list[int] | None, chosen: list) -> None:
    """Refuse a validation that would do nothing, or name a trial the study does not hold."""
    if trials:
        for n in trials:
            if not 0 <= n < len(study.trials):
                raise ConfigError(f"--trials {n}: the study has {describe_states(study)}"
                                  + (f" (numbers 0..{len(study.trials) - 1})" if study.trials else ""))
        return
    if not chosen:
        raise ConfigError(f"{run_dir}: nothing to validate — no completed trial within budget ({describe_states(study)}); "
                          "run or resume `autoprune search` first")


def check_exportable(study: optuna.Study, number: int, *, force: bool) -> str | None:
    """Refuse to export a trial that did not complete; with ``force``, a warning instead (when it can be rebuilt)."""
    trial = study.trials[number]
    if trial.state == State.COMPLETE:
        return None
    reason = trial.user_attrs.get("fail_reason") or trial.user_attrs.get("stopped_by")
    what = f"trial {number} is {_WORDS[trial.state]}" + (f" ({reason})" if reason else "")
    if not force:
        raise ConfigError(f"{what}, not complete; export a completed trial, or pass --force to export it anyway")
    if "knobs" not in trial.user_attrs or "arch" not in trial.user_attrs:
        raise ConfigError(f"{what} and never built its child; nothing to export")
    return f"warning: {what}; exporting it anyway (--force)"
