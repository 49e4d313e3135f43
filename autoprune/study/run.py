"""Running a study: one dense parent per family, one child per (family, method, budget, seed).

Every child gets the same fine-tune step budget and is scored on the whole validation
split; each finished cell is written to ``<out>/cells/`` at once, so an interrupted study
resumes where it stopped and a re-run with more budgets, methods or seeds only adds cells.
A cell records which parent it was cut from: one made from another parent (the spec's
preset, checkpoint or data changed) is not counted as done and is made again.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

import trackers
from autoprune.checkpoint import atomic_write, save_safetensors
from autoprune.data import builtin_root, builtin_split_root, open_split
from autoprune.data.pairs import pair_loader
from autoprune.errors import BudgetError, ConfigError
from autoprune.progress import console
from autoprune.study.spec import FamilySpec, StudySpec


@dataclass
class Cell:
    family: str
    method: str  # "dense", "gates", "search", "distill-loss", "oneshot", "random" or "uniform"
    budget: float | None  # requested fraction of the parent's per-frame MACs (None: the dense parent)
    reached: float  # the child's per-frame MACs / the parent's
    floor: bool  # the method could not go below the requested budget: this is its smallest child
    frame_macs: float
    init_macs: float
    params: int
    latency_ms: float
    ao: float
    sr50: float
    sr75: float
    fps: float
    note: str
    seconds: float
    arch: dict
    ao_ci: list = field(default_factory=list)  # [low, high], 95 % bootstrap over sequences ([] in older cells)
    iou_sums: list = field(default_factory=list)  # per val sequence, for paired comparisons between cells
    frame_counts: list = field(default_factory=list)
    seed: int = 0  # the child's seed: gate training, importance draws, search sampler, fine-tune order
    crop_scale: float = 1.0  # the child's search crop side / the parent's (below 1: the budget needed smaller crops)
    parent: str = ""  # which parent the cell was cut from (see Study.parent_id)
    settings: str = ""  # the spec's settings of its method when it was made ("" in older cells: not checked)

    @property
    def key(self) -> str:
        return cell_key(self.family, self.method, self.budget, self.seed)

    @property
    def on_budget(self) -> bool:
        """Within 10 % of the requested budget (the yardstick every method is held to)."""
        return self.budget is None or abs(self.reached / self.budget - 1) <= BUDGET_TOLERANCE + 1e-9


BUDGET_TOLERANCE = 0.1


def cell_key(family: str, method: str, budget: float | None, seed: int = 0) -> str:
    return f"{family}-{method}" + ("" if budget is None else f"-{budget * 100:g}pct") + f"-s{seed}"


class Study:
    def __init__(self, spec: StudySpec, *, progress: bool = True, device: str = "cpu", amp: str | None = None) -> None:
        self.spec = spec
        self.progress = progress
        # fine-tunes, gate training and tracking run on ``device``; costs and latencies are measured on the CPU
        self.device, self.amp = device, amp
        if spec.eval_runtime == "onnx" and not str(device).startswith("cpu"):
            raise ConfigError(f"study spec {spec.source}: eval_runtime onnx tracks in ONNX Runtime on the CPU, not on "
                              f"{device}; drop eval_runtime or use --device cpu")
        self.root = builtin_root() if spec.builtin else Path(spec.data)
        self.train_split = open_split(self.root, "train")
        # max_sequences beyond the built-in val split's default size reads a larger built-in val split
        val = open_split(builtin_split_root("val", spec.max_sequences) if spec.builtin else self.root, "val")
        self.val_split = val[: spec.max_sequences] if spec.max_sequences else val
        self.cells_dir = spec.out / "cells"

    # ---- bookkeeping -------------------------------------------------------------
    def parent_id(self, fam: FamilySpec) -> str:
        """What makes a family's parent: cells cut from another one are stale."""
        return json.dumps({"preset": fam.preset, "checkpoint": fam.checkpoint, "parent_steps": fam.parent_steps,
                           "lr": fam.lr, "data": self.spec.data, "seed": self.spec.seed}, sort_keys=True)

    def _load(self, key: str) -> Cell | None:
        path = self.cells_dir / f"{key}.json"
        if not path.is_file():
            return None
        known = set(Cell.__dataclass_fields__)
        return Cell(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    def cells(self) -> list[Cell]:
        """The spec's finished cells (files of other specs or other parents in the folder are left out)."""
        return [c for key in self.planned() if (c := self._load(key)) is not None and self._current(c)]

    def method_id(self, method: str) -> str:
        """What makes a method's cells: cells made with other settings of it (trials, proxy...) are stale."""
        runtime = {} if self.spec.eval_runtime == "torch" else {"eval_runtime": self.spec.eval_runtime}
        return json.dumps({**self.spec.methods.get(method, {}), **runtime}, sort_keys=True)

    def _current(self, cell: Cell) -> bool:
        fam = next(f for f in self.spec.families if f.name == cell.family)
        # scored on another number of val sequences (max_sequences changed): stale too
        scored_here = not cell.frame_counts or len(cell.frame_counts) == len(self.val_split)
        return (cell.parent == self.parent_id(fam) and scored_here
                and (not cell.settings or cell.settings == self.method_id(cell.method)))

    def _done(self, key: str) -> bool:
        cell = self._load(key)
        return cell is not None and self._current(cell)

    def _save(self, cell: Cell) -> None:
        text = json.dumps(asdict(cell), indent=1)
        atomic_write(self.cells_dir / f"{cell.key}.json", lambda tmp: Path(tmp).write_text(text))

    def planned(self, family: str | None = None, seed: int | None = None) -> list[str]:
        keys = []
        for fam in self.spec.families:
            for s in self.spec.seeds:
                if (family is None or fam.name == family) and (seed is None or s == seed):
                    if self.spec.dense:
                        keys.append(cell_key(fam.name, "dense", None, s))
                    keys += [cell_key(fam.name, m, b, s) for m in self.spec.methods for b in self.spec.budgets]
        return keys

    def remeasure_latency(self) -> list[Cell]:
        """Time every finished cell's architecture again (speed does not depend on the weights).

        For a study whose cells ran beside other jobs: re-timing them all in one quiet run
        makes the latency and speed-up columns comparable with each other.
        """
        cells = self.cells()
        for cell in cells:
            family = trackers.get(cell.family)
            cell.latency_ms = _latency_ms(family, family.build(family.validate_arch(cell.arch)).eval())
            self._save(cell)
        return cells

    # ---- running -----------------------------------------------------------------
    def run(self) -> list[Cell]:
        for fam in self.spec.families:
            seeds = [s for s in self.spec.seeds if any(not self._done(k) for k in self.planned(fam.name, s))]
            if seeds:
                self._run_family(fam, seeds)
        return self.cells()

    def _batches(self, family, arch, seed: int):
        return pair_loader(self.train_split, family.crop_spec(arch), batch_size=self.spec.batch_size, seed=seed,
                           pin_memory=self.device.startswith("cuda"))

    def _run_family(self, fam: FamilySpec, seeds: list[int]) -> None:
        from autoprune.run.parent import prepare_parent

        family = trackers.get(fam.name)
        parent = prepare_parent(family, preset=fam.preset, checkpoint=fam.checkpoint, data_root=self.root,
                                builtin=self.spec.builtin, steps=fam.parent_steps, seed=self.spec.seed,
                                trust_pickle=fam.trust_pickle, progress=self.progress)
        console.print(parent.description, highlight=False)
        model = parent.model.eval()
        self._parent = model  # the teacher when the children's fine-tune distils
        # The search loads its parent from a file: keep the exact weights beside the results.
        weights = self.spec.out / "parents" / f"{fam.name}.safetensors"
        save_safetensors(model.state_dict(), weights, metadata={**family.weights_metadata(model), "source": parent.source})
        parent_macs = family.analytic_cost(model.arch)["frame_macs"]
        self._parent_arch, self._parent_id = model.arch, self.parent_id(fam)
        for seed in seeds:
            self._seed = seed
            if self.spec.dense and not self._done(cell_key(fam.name, "dense", None, seed)):
                # The dense reference gets the children's fine-tune too (with the same seed): a briefly
                # trained parent improves with 150 more steps, and retention must not credit pruning for that.
                import copy

                torch.manual_seed(seed)
                self._save(self._score(family, copy.deepcopy(model), fam.name, "dense", None, parent_macs, floor=False,
                                       note=parent.description, started=time.perf_counter()))
            for method, settings in self.spec.methods.items():
                budgets = [b for b in self.spec.budgets if not self._done(cell_key(fam.name, method, b, seed))]
                if not budgets:
                    continue
                torch.manual_seed(seed)
                if method in SEARCH_METHODS:
                    if method == "random":
                        settings = {**settings, "sampler": "random"}
                    self._search(family, fam, model, weights, parent_macs, budgets, settings, method=method)
                else:
                    maker = {"gates": self._gates, "uniform": self._uniform}[method]
                    maker(family, fam, model, weights, parent_macs, budgets, settings)

    def _score(self, family, child, fname, method, budget, parent_macs, *, floor, note, finetune=True, started) -> Cell:
        from autoprune.cost import tracker_cost
        from autoprune.eval import evaluate
        from autoprune.export.onnx_runtime import tracking_on
        from autoprune.proxy import VALIDATION_RECIPE, ProxySettings, finetune_child

        seed = self._seed
        label = f"{fname} {method}" + ("" if budget is None else f" {budget * 100:g} %") + f" seed {seed}"
        if finetune and self.spec.finetune_steps:
            # the fine-tune full validation gives every child, so cells compare with searches' children
            settings = replace(ProxySettings(steps=self.spec.finetune_steps, batch_size=self.spec.batch_size, seed=seed,
                                             device=self.device, amp=self.amp), **VALIDATION_RECIPE)
            finetune_child(family, child, train_sequences=self.train_split, settings=settings, parent=self._parent,
                           progress=self.progress, description=f"fine-tune {label}")
        child.eval().cpu()
        cost = tracker_cost(family, child)
        latency_ms = _latency_ms(family, child)
        child.to(self.device)
        with tracking_on(self.spec.eval_runtime, family, child):
            result = evaluate(lambda: family.make_tracker(child), self.val_split, progress=self.progress,
                              tracker_name=label)
        ci = result.ao_interval()
        sums, counts = result.frame_totals()
        cell = Cell(family=fname, method=method, budget=budget, reached=cost.frame_macs / parent_macs, floor=floor,
                    frame_macs=cost.frame_macs, init_macs=cost.init_macs, params=cost.params, latency_ms=latency_ms,
                    ao=result.ao, sr50=result.sr50, sr75=result.sr75, fps=result.fps, note=note,
                    seconds=time.perf_counter() - started, arch=child.arch, ao_ci=[ci.low, ci.high],
                    iou_sums=sums.tolist(), frame_counts=counts.tolist(), seed=seed,
                    crop_scale=child.arch["search_size"] / self._parent_arch["search_size"], parent=self._parent_id,
                    settings=self.method_id(method))
        console.print(f"{label}: {cost.frame_macs / 1e6:.2f} M FLOPs (MACs) per frame ({100 * cell.reached:.1f} % of the parent), "
                      f"AO {result.ao:.3f}, {latency_ms:.2f} ms", highlight=False)
        return cell

    # ---- methods -------------------------------------------------------------------
    def _gates(self, family, fam, parent, weights, parent_macs, budgets, settings) -> None:
        from autoprune.prune.methods import GateCutter

        started = time.perf_counter()
        mode = settings.get("mode", "naive")
        layerwise_below = float(settings.get("layerwise_at_or_below", 0.01))
        cutter = GateCutter(parent, self._batches(family, parent.arch, self._seed), steps=int(settings.get("steps", 150)),
                            progress=self.progress, device=self.device, amp=self.amp)
        shared = (time.perf_counter() - started) / len(budgets)  # the sparsity training serves every budget
        for budget in budgets:
            t0 = time.perf_counter() - shared
            cut_mode = "layerwise" if budget <= layerwise_below else mode
            target = budget * parent_macs
            floor = cutter.smallest_macs(cut_mode) > target
            child, _, note = cutter.cut(smallest=True, mode=cut_mode) if floor else cutter.cut(budget_macs=target, mode=cut_mode)
            self._save(self._score(family, child, fam.name, "gates", budget, parent_macs, floor=floor, note=note, started=t0))

    def _uniform(self, family, fam, parent, weights, parent_macs, budgets, settings) -> None:
        from autoprune.prune.methods import prune_uniform

        for budget in budgets:
            t0 = time.perf_counter()
            space = settings.get("space", family.name)
            try:
                child, _, note = prune_uniform(parent, space=space, importance=settings.get("importance", "l1"), keep=None,
                                               budget_macs=budget * parent_macs, seed=self._seed)
                floor = False
            except BudgetError:
                child, _, note = prune_uniform(parent, space=space, importance=settings.get("importance", "l1"),
                                               keep=None, budget_macs=None, seed=self._seed, smallest=True)
                floor = True
            self._save(self._score(family, child, fam.name, "uniform", budget, parent_macs, floor=floor, note=note, started=t0))

    def _search(self, family, fam, parent, weights, parent_macs, budgets, settings, *, method: str) -> None:
        import optuna

        from autoprune.pipeline import prepare, search
        from autoprune.run.settings import SearchSettings
        from autoprune.run.study import feasible, open_run
        from autoprune.validate.pareto import AT_BUDGET

        for budget in budgets:
            t0 = time.perf_counter()
            base = SearchSettings.from_options(
                tracker=fam.name, budget_kind="mflops", budget_value=budget * parent_macs / 1e6, preset=fam.preset, checkpoint=str(weights),
                data=None if self.spec.builtin else str(self.root), space=settings.get("space"),
                trials=int(settings.get("trials", 8)), proxy_steps=int(settings.get("proxy_steps", 20)),
                proxy_sequences=int(settings.get("proxy_sequences", 2)), sampler=settings.get("sampler", "tpe"),
                # random search stays random; the search starts from the uniform shape unless told not to
                uniform_start=bool(settings.get("uniform_start", method != "random")), seed=self._seed,
                proxy=SEARCH_METHODS[method],
                supernet_steps=int(settings.get("supernet_steps", 300)), oneshot_score=settings.get("oneshot_score"), runs_dir=str(self.spec.out / "runs"), validate_max=0, export=False,
                study_name=cell_key(fam.name, method, budget, self._seed), command=f"autoprune study run {self.spec.source}",
                device=self.device, amp=self.amp,
                # a cell compares methods at its budget: every trial aims within 10 % of it (a little
                # above 90 %: projection lands just under its target, on the widths' grid)
                min_share=STUDY_MIN_SHARE,
            )
            ctx = prepare(base, progress=False)
            floor = ctx.smallest_cost * 1e6 > budget * parent_macs
            # Below the smallest child the space can make, search just above that floor (reported as such):
            # projection needs some room above the smallest child to vary the knobs.
            value = max(budget * parent_macs, ctx.smallest_cost * 1e6 * 1.15) / 1e6
            base = replace(base, budget=replace(base.budget, value=value))
            search(base, progress=self.progress, ctx=ctx)
            study = open_run(base.run_dir).study
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            done = [t for t in complete if feasible(t)]
            at_budget = [t for t in done if t.values[1] * 1e6 >= AT_BUDGET * budget * parent_macs]
            if at_budget or done:  # the best proxy score within 10 % of the budget, else the best within it
                best = max(at_budget or done, key=lambda t: t.values[0])
            elif floor and complete:  # at the floor, the cheapest child found is the answer
                best = min(complete, key=lambda t: t.values[1])
            else:
                console.print(f"{fam.name} {method} {budget * 100:g} %: no feasible trial finished; cell left empty")
                continue
            child, _ = ctx.pruner.prune(best.user_attrs["knobs"])
            score = base.proxy.oneshot_score or family.oneshot_score
            proxy = {"oneshot": f"one-shot proxy ({score}, supernet {base.proxy.supernet_steps} steps)",
                     "distill-loss": f"distill-loss proxy {base.proxy.steps} steps"}.get(base.proxy.kind, f"proxy {base.proxy.steps} steps")
            note = f"search ({base.sampler}, {base.trials} trials, {proxy}): trial {best.number}, proxy score {best.values[0]:.3f}"
            self._save(self._score(family, child, fam.name, method, budget, parent_macs, floor=floor, note=note, started=t0))


STUDY_MIN_SHARE = 0.93
# The study methods that are searches, and the proxy each scores its trials with.
SEARCH_METHODS = {"search": "finetune", "random": "finetune", "distill-loss": "distill-loss", "oneshot": "oneshot"}


def _latency_ms(family, model) -> float:
    """Per-frame network latency on one thread, CPU time (steady when other jobs share the machine)."""
    from autoprune.cost import tracker_latency

    return tracker_latency(family, model, threads=1, repeats=30, clock="cpu").median_ms


def run_study(spec: StudySpec, *, progress: bool = True) -> list[Cell]:
    return Study(spec, progress=progress).run()
