"""Serve a run's study with optuna-dashboard (objective names set so columns read well)."""
from __future__ import annotations

from autoprune.progress import results
from autoprune.run.study import open_run


def prepare(run) -> object:
    """Open the run's storage and name its objectives for the dashboard."""
    from optuna_dashboard import set_objective_names

    info = open_run(run)
    unit = info.record.budget_unit or "M FLOPs (MACs)"
    proxy = info.settings.proxy
    score = {"finetune": "proxy AO", "distill-loss": "minus held-out loss"}.get(proxy.kind, f"one-shot score ({proxy.oneshot_score})")
    set_objective_names(info.study, [score, f"per-frame {unit}"])
    return info


def serve(run, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    from optuna_dashboard import run_server

    info = prepare(run)
    results.print(f"optuna-dashboard for {info.study.study_name}: [bold]http://{host}:{port}/[/] (Ctrl-C to stop)")
    run_server(info.study._storage, host=host, port=port)
