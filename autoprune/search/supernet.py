"""The one-shot proxy's stage before the trials: the supernet, trained once per run and cached in it."""
from __future__ import annotations

import json
from pathlib import Path

from autoprune.progress import console
from autoprune.run.context import RunContext


def supernet_file(run_dir: Path) -> Path:
    return Path(run_dir) / "supernet" / "model.safetensors"


def prepare_supernet(ctx: RunContext, *, progress: bool = True) -> Path:
    """Train the one-shot proxy's supernet once per run (a resumed run reuses the file)."""
    from autoprune.proxy.oneshot import SupernetSettings, save_supernet, train_supernet

    s = ctx.settings
    path = supernet_file(s.run_dir)
    if path.is_file():
        console.print(f"supernet: reusing {path}", highlight=False)
        return path
    import numpy as np

    # Supernet children only need to be the sizes the search visits. A latency prediction
    # builds a child on the meta device (~0.1 s), too slow for hundreds of draws, so a ms
    # budget is drawn as the same share of the parent's MACs: close enough for training.
    from autoprune.run.cost_metric import frame_mflops

    macs = frame_mflops(ctx.family)
    scale = 1.0 if s.budget.kind == "mflops" else macs(ctx.parent.model.arch) / ctx.parent_cost
    metric = ctx.metric if s.budget.kind == "mflops" else macs

    def draw(rng: np.random.Generator) -> dict:  # a child the search may visit: random knobs at a share of the budget
        share = float(rng.uniform(s.budget.min_share, 1.0))
        return ctx.pruner.project(ctx.pruner.space.random(rng), share * s.budget.value * scale, metric)[0]

    console.print(f"supernet: fine-tuning the parent {s.proxy.supernet_steps} steps as a supernet over the search space",
                  highlight=False)
    supernet, summary = train_supernet(ctx.family, ctx.pruner, ctx.train_sequences, draw_child=draw, device=ctx.device,
                                       settings=SupernetSettings(steps=s.proxy.supernet_steps, seed=s.seed), progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_supernet(ctx.family, supernet.cpu(), path)  # written atomically: a worker never reads half a file
    from autoprune.checkpoint import atomic_write

    atomic_write(path.parent / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    return path
