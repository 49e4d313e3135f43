"""The study's report: retention with 95 % intervals per family x budget x method, paired
differences between methods and between families, conclusions drawn from those intervals,
and plots."""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from autoprune.checkpoint import atomic_write
from autoprune.eval.uncertainty import span_text
from autoprune.study.run import Cell
from autoprune.study.spec import StudySpec
from autoprune.study.stats import Bootstrap, Scores, separated

METHOD_LABEL = {"gates": "learned gates (paper)", "search": "autoprune search", "oneshot": "autoprune search, one-shot proxy",
                "distill-loss": "autoprune search, distill-loss proxy",
                "random": "random search", "uniform": "uniform"}


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def _signed(iv) -> str:
    return f"{100 * iv.value:+.1f} pp [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]"


def _ret(iv) -> str:
    return f"{100 * iv.value:.0f} %"


def _ci(iv) -> str:
    return "-" if not np.isfinite(iv.low) else f"{100 * iv.low:.0f}-{100 * iv.high:.0f} %"


class Tables:
    """The study's numbers: cells grouped over seeds, retention intervals, paired differences."""

    def __init__(self, spec: StudySpec, cells: list[Cell]) -> None:
        self.spec = spec
        self.families = [f.name for f in spec.families if any(c.family == f.name for c in cells)]
        self.methods = [m for m in spec.methods if any(c.method == m for c in cells)]
        self.budgets = sorted({c.budget for c in cells if c.budget is not None}, reverse=True)
        self.groups: dict[tuple, list[Cell]] = defaultdict(list)
        for c in cells:
            self.groups[(c.family, c.method, c.budget)].append(c)
        self.dense = {f: self.groups[(f, "dense", None)] for f in self.families if self.groups.get((f, "dense", None))}
        lengths = {len(c.frame_counts) for c in cells}
        seeds = max((len(v) for v in self.groups.values()), default=1)
        self.boot = Bootstrap(lengths.pop(), seeds, seed=spec.seed) if len(lengths) == 1 else None
        self.retention: dict[tuple, object] = {}
        if self.boot is not None:
            for (f, m, b), group in self.groups.items():
                if m != "dense" and f in self.dense:
                    self.retention[(f, m, b)] = self.boot.retention(Scores.of(group), Scores.of(self.dense[f]))

    def scores(self, family, method, budget):
        return Scores.of(self.groups[(family, method, budget)]), Scores.of(self.dense[family])

    def method_differences(self) -> list[tuple]:
        """(family, budget, method a, method b, interval of retention a - b) for every pair of methods."""
        out = []
        for f in self.families:
            for b in self.budgets:
                present = [m for m in self.methods if (f, m, b) in self.retention]
                for m1, m2 in combinations(present, 2):
                    out.append((f, b, m1, m2, self.boot.difference(self.scores(f, m1, b), self.scores(f, m2, b))))
        return out

    def family_differences(self) -> list[tuple]:
        """(method, budget, family a, family b, interval of retention a - b): the paper's question."""
        out = []
        for m in self.methods:
            for b in self.budgets:
                present = [f for f in self.families if (f, m, b) in self.retention]
                for f1, f2 in combinations(present, 2):
                    out.append((m, b, f1, f2, self.boot.difference(self.scores(f1, m, b), self.scores(f2, m, b))))
        return out

    def off_budget(self) -> list[Cell]:
        return [c for g in self.groups.values() for c in g if not c.on_budget]


def _verdicts(pairs: list[tuple], label) -> list[str]:
    """One sentence per compared pair: at which budgets which side is CI-separated ahead, and where not."""
    by_pair: dict[tuple, list] = defaultdict(list)
    for where, budget, a, b, iv in pairs:
        by_pair[(where, a, b)].append((budget, iv))
    lines = []
    for (where, a, b), results in by_pair.items():
        ahead_a = [_pct(bu) for bu, iv in results if separated(iv) and iv.value > 0]
        ahead_b = [_pct(bu) for bu, iv in results if separated(iv) and iv.value < 0]
        open_ = [_pct(bu) for bu, iv in results if not separated(iv)]
        parts = []
        if ahead_a:
            parts.append(f"{label(a)} retains more at {', '.join(ahead_a)}")
        if ahead_b:
            parts.append(f"{label(b)} retains more at {', '.join(ahead_b)}")
        if open_:
            parts.append(f"not separated at {', '.join(open_)}")
        lines.append(f"{where}, {label(a)} vs {label(b)}: " + "; ".join(parts) + ".")
    return lines


def conclusions(tables: Tables) -> list[str]:
    """Statements the numbers support, computed rather than written by hand: a difference is
    called only where its 95 % interval excludes zero."""
    lines = []
    if tables.boot is None:
        return ["Cells were scored on different validation sequences: no paired comparison is possible."]
    fam = tables.family_differences()
    meth = tables.method_differences()
    low = [b for b in tables.budgets if b <= 0.25]
    if len(tables.families) >= 2:
        for m in tables.methods:
            means = {f: np.mean([tables.retention[(f, m, b)].value for b in low if (f, m, b) in tables.retention])
                     for f in tables.families if any((f, m, b) in tables.retention for b in low)}
            if len(means) >= 2:
                ranked = sorted(means.items(), key=lambda kv: -kv[1])
                lines.append(f"{METHOD_LABEL[m]}: mean retention at budgets <= 25 %: "
                             + ", ".join(f"{f} {100 * v:.0f} %" for f, v in ranked) + f" (highest: {ranked[0][0]}).")
        lines += [f"Under {line}" for line in _verdicts(
            [(METHOD_LABEL[m], b, f1, f2, iv) for m, b, f1, f2, iv in fam], label=str)]
    if len(tables.methods) >= 2:
        lines += [f"On {line}" for line in _verdicts(meth, label=lambda m: METHOD_LABEL[m])]
    every = fam + meth
    if every:
        resolved = sum(separated(p[-1]) for p in every)
        half = float(np.median([p[-1].half_width for p in every if np.isfinite(p[-1].half_width)] or [float("nan")]))
        seeds = max(len(g) for g in tables.groups.values())
        lines.append(f"{resolved} of {len(every)} paired differences are CI-separated. With {seeds} seed(s) and "
                     f"{tables.boot.sequences} validation sequences, the median 95 % half-width of a retention "
                     f"difference is {100 * half:.0f} pp: smaller differences are not resolved by this study.")
    off = tables.off_budget()
    lines.append("Every cell is within 10 % of its budget." if not off else
                 f"{len(off)} cell(s) are not within 10 % of their budget (listed above); their retention is not at that budget.")
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


def _mean(cells: list[Cell], attr: str) -> float:
    return float(np.mean([getattr(c, attr) for c in cells]))


def write_report(spec: StudySpec, cells: list[Cell], *, command: str, seconds: float, action: str = "run") -> Path:
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    runs = _invocations(out, command, seconds, action)
    tables = Tables(spec, cells)
    plots = [plot_retention_vs_budget(tables, out / "retention_vs_budget.png"),
             plot_ao_vs_budget(tables, out / "ao_vs_budget.png"), plot_latency_vs_macs(cells, out / "latency_vs_macs.png")]
    boot = tables.boot
    lines = [f"# Study: {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    made_by = "; then ".join(f"`{r['command']}` ({r['minutes']:g} min)" for r in runs) or f"`{command}`"
    seeds_done = sorted({c.seed for c in cells})
    lines += [f"Made by: {made_by}" + ("" if action == "run" else f"; report by `{command}`") + ".  ",
              f"Spec: `{spec.source.name}`; parents' seed {spec.seed}; children's seeds {', '.join(map(str, spec.seeds))} "
              f"(finished: {', '.join(map(str, seeds_done)) or 'none'}); data: {spec.data}; "
              f"every child fine-tuned {spec.finetune_steps} steps (batch {spec.batch_size}); "
              f"evaluation on the whole val split ({'first ' + str(spec.max_sequences) if spec.max_sequences else 'all'} sequences).  ",
              f"Compute: {sum(c.seconds for c in cells) / 60:.1f} min of cell time (fine-tunes, searches, evaluations); "
              "latency is per-frame CPU time on one thread.  ",
              "Intervals: 95 %, two-level bootstrap (validation sequences, then seeds within each draw), the same draws "
              "for every number, so differences are paired. Retention = mean AO over seeds / mean AO of the dense parent "
              "fine-tuned with the same seeds.", ""]
    lines += ["## Dense parents", "", f"Scored after the same {spec.finetune_steps} fine-tune steps every child gets "
              "(retention below is relative to these).", "",
              "| family | preset record | per-frame M MACs | params (M) | latency (ms, 1 thread) | AO | AO 95 % CI | SR0.5 | SR0.75 | FPS | seeds |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fam, group in tables.dense.items():
        c = group[0]
        ao = boot.ao(Scores.of(group)) if boot else None
        ci = "-" if ao is None else f"{ao.low:.3f}-{ao.high:.3f}"
        lines.append(f"| {fam} | {c.note.split(' trained')[0].split(' with weights')[0].replace('parent: ', '')} | "
                     f"{c.frame_macs / 1e6:.2f} | {c.params / 1e6:.3f} | {_mean(group, 'latency_ms'):.2f} | {_mean(group, 'ao'):.3f} | "
                     f"{ci} | {_mean(group, 'sr50'):.3f} | {_mean(group, 'sr75'):.3f} | {_mean(group, 'fps'):.0f} | {len(group)} |")
    lines += ["", "## Retention of the dense parent's AO", "",
              "Reached: the child's per-frame MACs / the parent's (mean over seeds); `!` marks a cell with a seed outside "
              "10 % of the budget, `*` one below the method's smallest child. Crops: the child's crop side / the parent's "
              "(below 1 where the budget needed smaller crops).", "",
              "| family | budget | method | reached | crops | AO | retention | retention 95 % CI | params (M) | latency (ms) | speed-up | FPS | seeds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in tables.families:
        parent = tables.dense.get(f)
        for b in tables.budgets:
            for m in tables.methods:
                group = tables.groups.get((f, m, b))
                if not group:
                    continue
                r = tables.retention.get((f, m, b))
                mark = ("!" if any(not c.on_budget for c in group) else "") + ("*" if any(c.floor for c in group) else "")
                latency = _mean(group, "latency_ms")
                speed = f"{_mean(parent, 'latency_ms') / latency:.2f}x" if parent else "-"
                crops = "/".join(sorted({f"{c.crop_scale:.3g}" for c in group}))
                lines.append(f"| {f} | {_pct(b)}{mark} | {METHOD_LABEL[m]} | {_pct(_mean(group, 'reached'))} | {crops} | "
                             f"{_mean(group, 'ao'):.3f} | {'-' if r is None else _ret(r)} | {'-' if r is None else _ci(r)} | "
                             f"{_mean(group, 'params') / 1e6:.3f} | {latency:.2f} | {speed} | {_mean(group, 'fps'):.0f} | {len(group)} |")
    off = tables.off_budget()
    if off:
        lines += ["", "## Cells off their budget", "", "Not within 10 % of the requested budget:", ""]
        lines += [f"- `{c.key}`: reached {_pct(c.reached)} of a {_pct(c.budget)} budget ({c.note})" for c in off]
    if boot is not None:
        fam_rows, meth_rows = tables.family_differences(), tables.method_differences()
        if fam_rows:
            lines += ["", "## Paired differences between families", "",
                      "Retention of family a minus family b under one method at one budget, in percentage points.", "",
                      "| method | budget | a - b | difference [95 % CI] | separated |", "|---|---|---|---|---|"]
            lines += [f"| {METHOD_LABEL[m]} | {_pct(b)} | {f1} - {f2} | {_signed(iv)} | {'yes' if separated(iv) else 'no'} |"
                      for m, b, f1, f2, iv in fam_rows]
        if meth_rows:
            lines += ["", "## Paired differences between methods", "",
                      "Retention of method a minus method b on one family at one budget, in percentage points.", "",
                      "| family | budget | a - b | difference [95 % CI] | separated |", "|---|---|---|---|---|"]
            lines += [f"| {f} | {_pct(b)} | {METHOD_LABEL[m1]} - {METHOD_LABEL[m2]} | {_signed(iv)} | {'yes' if separated(iv) else 'no'} |"
                      for f, b, m1, m2, iv in meth_rows]
    lines += ["", "## Conclusions", "", "Computed from the intervals above; a difference is stated only where its 95 % "
              "interval excludes zero.", ""] + [f"- {x}" for x in conclusions(tables)]
    written = out / "conclusions.md"  # a reader's notes on a real run, kept across report rewrites
    if written.is_file():
        lines += ["", "## Notes", "", written.read_text().strip()]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    lines += ["", "## Cells", "", "Each cell's record (architecture, note, per-sequence scores, timings) is in "
              "`cells/<family>-<method>-<budget>pct-s<seed>.json`; search studies are in `runs/` (open them with `autoprune dashboard`)."]
    text = "\n".join(lines) + "\n"
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    return out / "report.md"


def _budget_axis(ax) -> None:
    import matplotlib.ticker

    ax.set_xscale("log")
    ticks = [1, 2, 5, 10, 25, 50, 100]
    ax.set_xticks(ticks, [f"{t} %" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(0.8, 110)
    ax.grid(alpha=0.3)


def plot_retention_vs_budget(tables: Tables, path: Path) -> Path:
    """Retention against budget with 95 % bands: per family (methods compared), per method (families compared)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("family", f, [(m, METHOD_LABEL[m], (f, m)) for m in tables.methods]) for f in tables.families]
    rows2 = [("method", m, [(f, f, (f, m)) for f in tables.families]) for m in tables.methods]
    cols = max(len(rows), len(rows2), 1)
    fig, axes = plt.subplots(2, cols, figsize=(4.2 * cols, 7.2), squeeze=False, sharey=True)
    for r, panels in enumerate((rows, rows2)):
        for ax in axes[r][len(panels):]:
            ax.set_visible(False)
        for ax, (_, title, lines) in zip(axes[r], panels):
            for _, label, (f, m) in lines:
                pts = [(b, tables.retention[(f, m, b)]) for b in sorted(tables.budgets) if (f, m, b) in tables.retention]
                if not pts:
                    continue
                x = [100 * b for b, _ in pts]
                line, = ax.plot(x, [100 * iv.value for _, iv in pts], marker="o", label=label)
                ax.fill_between(x, [100 * iv.low for _, iv in pts], [100 * iv.high for _, iv in pts], color=line.get_color(), alpha=0.2)
            ax.axhline(100, color="grey", linestyle="--", linewidth=1)
            _budget_axis(ax)
            ax.set_title(title if r == 0 else METHOD_LABEL[title])
            ax.set_xlabel("budget (per-frame MACs, share of the parent)")
            ax.legend(fontsize=7)
        axes[r][0].set_ylabel("AO retention, % of the dense parent")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path


def plot_ao_vs_budget(tables: Tables, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = tables.families or ["-"]
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6), squeeze=False, sharey=True)
    for ax, fam in zip(axes[0], families):
        for method in tables.methods:
            pts = sorted((_mean(g, "reached"), _mean(g, "ao")) for (f, m, _), g in tables.groups.items() if f == fam and m == method)
            if pts:
                ax.plot([100 * x for x, _ in pts], [y for _, y in pts], marker="o", label=METHOD_LABEL[method])
        if fam in tables.dense:
            ax.axhline(_mean(tables.dense[fam], "ao"), color="grey", linestyle="--", label="dense parent")
        _budget_axis(ax)
        ax.set_title(fam)
        ax.set_xlabel("per-frame MACs, share of the parent")
    axes[0][0].set_ylabel("AO (val, mean over seeds)")
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
