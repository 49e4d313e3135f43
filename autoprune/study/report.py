"""The study's report: markdown tables (AO and retention per family x budget x method) and plots."""
from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from autoprune.checkpoint import atomic_write
from autoprune.eval.uncertainty import span_text
from autoprune.study.run import Cell
from autoprune.study.spec import StudySpec

METHOD_LABEL = {"gates": "learned gates (paper)", "search": "autoprune search", "random": "random search", "uniform": "uniform"}


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def _retention(cell: Cell, dense: dict[str, Cell]) -> float | None:
    parent = dense.get(cell.family)
    return cell.ao / parent.ao if parent and parent.ao > 0 else None


def findings(spec: StudySpec, cells: list[Cell]) -> list[str]:
    """Statements the numbers support, computed rather than written by hand."""
    dense = {c.family: c for c in cells if c.method == "dense"}
    lines = []
    for method in spec.methods:
        by_family = defaultdict(list)
        for c in cells:
            if c.method == method and c.budget is not None and c.budget <= 0.25:
                r = _retention(c, dense)
                if r is not None:
                    by_family[c.family].append(r)
        if len(by_family) >= 2:
            ranked = sorted(by_family.items(), key=lambda kv: -statistics.mean(kv[1]))
            text = ", ".join(f"{f} {100 * statistics.mean(v):.0f} %" for f, v in ranked)
            lines.append(f"{METHOD_LABEL[method]}: mean AO retention at budgets <= 25 %: {text} "
                         f"(most stable: {ranked[0][0]}).")
    if {"gates", "search"} <= set(spec.methods):
        pairs = [(c, g) for c in cells if c.method == "search"
                 for g in cells if g.method == "gates" and g.family == c.family and g.budget == c.budget]
        if pairs:
            wins = sum(1 for s, g in pairs if s.ao > g.ao)
            lines.append(f"autoprune search beats the learned gates in {wins} of {len(pairs)} (family, budget) cells at "
                         f"equal or lower per-frame MACs budget; median AO difference "
                         f"{statistics.median(s.ao - g.ao for s, g in pairs):+.3f}.")
    floors = [c for c in cells if c.floor]
    if floors:
        lines.append("Budgets marked * were below the smallest child the method can make; the cell holds that smallest "
                     "child (its real share of the parent's MACs is in the 'reached' column).")
    return lines


def _invocations(out: Path, command: str, seconds: float, action: str) -> list[dict]:
    """Every `study run` that added cells (command, wall time), kept in ``runs.json``."""
    import json

    path = out / "runs.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    if action == "run":
        runs.append({"command": command, "minutes": round(seconds / 60, 1)})
        text = json.dumps(runs, indent=1)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return runs


def write_report(spec: StudySpec, cells: list[Cell], *, command: str, seconds: float, action: str = "run") -> Path:
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    runs = _invocations(out, command, seconds, action)
    plots = [plot_ao_vs_budget(spec, cells, out / "ao_vs_budget.png"), plot_latency_vs_macs(cells, out / "latency_vs_macs.png")]
    dense = {c.family: c for c in cells if c.method == "dense"}
    lines = [f"# Study: {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    made_by = "; then ".join(f"`{r['command']}` ({r['minutes']:g} min)" for r in runs) or f"`{command}`"
    lines += [f"Made by: {made_by}" + ("" if action == "run" else f"; report by `{command}`") + ".  ",
              f"Spec: `{spec.source.name}`; seed {spec.seed}; data: {spec.data}; "
              f"every child fine-tuned {spec.finetune_steps} steps (batch {spec.batch_size}); "
              f"evaluation on the whole val split ({'first ' + str(spec.max_sequences) if spec.max_sequences else 'all'} sequences).  ",
              f"Compute: {sum(c.seconds for c in cells) / 60:.1f} min of cell time (fine-tunes, searches, evaluations) "
              "on 2 CPU cores shared with other jobs; latency is per-frame CPU time on one thread.", ""]
    lines += ["## Dense parents", "", f"Scored after the same {spec.finetune_steps} fine-tune steps every child gets "
              "(retention below is relative to these).", "", "| family | preset record | per-frame M MACs | params (M) | latency (ms, 1 thread) | AO | AO 95 % CI | SR0.5 | SR0.75 | FPS |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in dense.values():
        lines.append(f"| {c.family} | {c.note.split(' trained')[0].replace('parent: ', '')} | {c.frame_macs / 1e6:.2f} | "
                     f"{c.params / 1e6:.3f} | {c.latency_ms:.2f} | {c.ao:.3f} | {span_text(c.ao_ci)} | {c.sr50:.3f} | {c.sr75:.3f} | {c.fps:.0f} |")
    lines += ["", "## AO and retention of the dense parent's AO", "",
              "| family | budget | method | reached | AO | AO 95 % CI | retention | SR0.5 | SR0.75 | params (M) | latency (ms) | speed-up | FPS |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ordered = sorted((c for c in cells if c.method != "dense"), key=lambda c: (c.family, -c.budget, c.method))
    for c in ordered:
        r = _retention(c, dense)
        parent = dense.get(c.family)
        speed = f"{parent.latency_ms / c.latency_ms:.2f}x" if parent else "-"
        lines.append(f"| {c.family} | {_pct(c.budget)}{'*' if c.floor else ''} | {METHOD_LABEL[c.method]} | {_pct(c.reached)} | "
                     f"{c.ao:.3f} | {span_text(c.ao_ci)} | {'-' if r is None else f'{100 * r:.0f} %'} | {c.sr50:.3f} | {c.sr75:.3f} | "
                     f"{c.params / 1e6:.3f} | {c.latency_ms:.2f} | {speed} | {c.fps:.0f} |")
    lines += ["", "## What the numbers say", ""] + [f"- {f}" for f in findings(spec, cells)]
    written = out / "conclusions.md"  # the authors' reading of a real run, kept across report rewrites
    if written.is_file():
        lines += ["", "## Conclusions", "", written.read_text().strip()]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    lines += ["", "## Cells", "", "Each cell's record (architecture, note, timings) is in `cells/<family>-<method>-<budget>.json`; "
              "search studies are in `runs/` (open them with `autoprune dashboard`)."]
    text = "\n".join(lines) + "\n"
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    return out / "report.md"


def plot_ao_vs_budget(spec: StudySpec, cells: list[Cell], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    families = [f.name for f in spec.families]
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6), squeeze=False, sharey=True)
    for ax, fam in zip(axes[0], families):
        dense = next((c for c in cells if c.family == fam and c.method == "dense"), None)
        for method in spec.methods:
            pts = sorted((c.reached, c.ao) for c in cells if c.family == fam and c.method == method)
            if pts:
                ax.plot([100 * x for x, _ in pts], [y for _, y in pts], marker="o", label=METHOD_LABEL[method])
        if dense:
            ax.axhline(dense.ao, color="grey", linestyle="--", label="dense parent")
        ax.set_xscale("log")
        ticks = [1, 2, 5, 10, 25, 50, 100]
        ax.set_xticks(ticks, [f"{t} %" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(0.8, 110)
        ax.set_title(fam)
        ax.set_xlabel("per-frame MACs, share of the parent")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AO (val)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path


def plot_latency_vs_macs(cells: list[Cell], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for fam in sorted({c.family for c in cells}):
        pts = [(c.frame_macs / 1e6, c.latency_ms) for c in cells if c.family == fam]
        ax.scatter([x for x, _ in pts], [y for _, y in pts], label=fam)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("per-frame M MACs")
    ax.set_ylabel("latency, ms (1 thread, batch 1)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path


def _save_figure(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
