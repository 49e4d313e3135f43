"""Benchmarks of result quality: search vs baselines at equal MACs, and proxy fidelity."""
from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

import trackers
from autoprune.cache import cache_dir
from benchmarks._kept import kept_dir, link_kept
from benchmarks.yardstick import YARDSTICK_VAL, _yardstick_val


def _seed_cells(seed: int, quick: bool, work: str, families: dict, budgets: list, device: str = "cpu",
                chosen_methods: tuple | None = None) -> list[dict]:
    """One seed's study of one family (a process of its own: seeds run in parallel, one thread each)."""
    from dataclasses import asdict

    from autoprune.commands.search import DEFAULT_TRIALS
    from autoprune.study import Study
    from autoprune.study.spec import parse_spec

    import os

    torch.set_num_threads(1)
    (name, _), = families.items()
    # full validation as `autoprune search` validates: the family's own fine-tune steps
    steps = 2 if quick else trackers.get(name).validate_steps
    # the fine-tune searches at `autoprune search`'s defaults: what a user gets
    search = {"trials": 2 if quick else DEFAULT_TRIALS["finetune"], "proxy_steps": 1 if quick else 30,
              "proxy_sequences": 1 if quick else 4}
    methods = {"search": {**search, "sampler": "tpe"}, "random": search, "uniform": {"importance": "l1"},
               # the search's fine-tune, scored by the loss on fixed val pairs instead of tracking
               "distill-loss": {"trials": search["trials"], "proxy_steps": search["proxy_steps"], "sampler": "tpe"},
               # the one-shot search: 8 trials and a 200-step supernet (its CLI defaults, 48 and 300, cost
               # 10+ min per siamrpn cell here)
               "oneshot": {"trials": 2 if quick else 8, "proxy_sequences": 1 if quick else 2, "sampler": "tpe",
                           "supernet_steps": 2 if quick else 200},  # the family's one-shot score
               "gates": {"steps": 2 if quick else 150, "mode": "naive", "layerwise_at_or_below": 0.01}}
    spec = parse_spec({
        # seeds: [seed] — this process makes this seed's cells only (a spec's default is 3 seeds from
        # "seed" on, which made each process repeat its neighbours' seeds)
        "name": f"seed-{seed}", "data": "builtin", "seed": seed, "seeds": [seed], "budgets": budgets,
        "finetune_steps": steps, "batch_size": 8,
        # SEARCH_QUALITY_DENSE=0: leave each seed's dense parent to another run of the same seed
        "dense": os.environ.get("SEARCH_QUALITY_DENSE", "1") != "0",
        # the yardstick: its 1280 val sequences, tracked in ONNX Runtime (the same AO within noise as
        # PyTorch, about 2x faster: validation_runtime.md)
        "max_sequences": 1 if quick else YARDSTICK_VAL, "eval_runtime": "torch" if quick else "onnx",
        "families": {name: {"preset": preset} for name, preset in families.items()},
        "methods": {m: methods[m] for m in (chosen_methods or methods)},
    }, Path(work) / "spec.yaml")
    return [asdict(c) for c in Study(spec, progress=False, device=device).run()]


def _chosen_seeds(text: str, seeds: list[int]) -> list[int]:
    """The seeds named in SEARCH_QUALITY_SEEDS ("0,2"), all of ``seeds`` when it is empty."""
    try:
        chosen = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"SEARCH_QUALITY_SEEDS: {text!r} is not a comma-separated list of seeds; valid: "
                         f"{', '.join(map(str, seeds))}") from None
    unknown = sorted(set(chosen) - set(seeds))
    if unknown:
        raise SystemExit(f"SEARCH_QUALITY_SEEDS: unknown seed {', '.join(map(str, unknown))}; valid: {', '.join(map(str, seeds))}")
    return chosen or list(seeds)


def search_quality(quick: bool, device: str = "cpu") -> dict:
    """Full-validation AO at 25 % and 10 % of the parent's MACs: search vs random search vs uniform vs gates, paired."""
    import json
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from autoprune.study import Cell

    seeds = [0] if quick else [0, 1, 2]
    # SEARCH_QUALITY_SEEDS=2 runs some seeds only (two runs of different seeds share the cores);
    # the report still covers every seed with kept cells
    run_seeds = _chosen_seeds(os.environ.get("SEARCH_QUALITY_SEEDS", ""), seeds)
    # SEARCH_QUALITY_FAMILIES=siamrpn runs (and reports) a subset; its cells are shared with the full run
    chosen = [f for f in os.environ.get("SEARCH_QUALITY_FAMILIES", "").split(",") if f]
    families = {"ostrack": "tiny"} if quick else {k: v for k, v in SEARCH_QUALITY_FAMILIES.items() if not chosen or k in chosen}
    # SEARCH_QUALITY_METHODS=search,uniform likewise runs (and reports) some of the methods
    wanted = [m for m in os.environ.get("SEARCH_QUALITY_METHODS", "").split(",") if m]
    unknown = sorted(set(wanted) - set(QUALITY_METHODS))
    if unknown:
        raise SystemExit(f"SEARCH_QUALITY_METHODS: unknown method {', '.join(unknown)}; valid: {', '.join(QUALITY_METHODS)}")
    methods = tuple(m for m in QUALITY_METHODS if not wanted or m in wanted)
    # 25 % and 10 %: budgets every method reaches on these parents (1 % lies below the smallest
    # child the search spaces make; the paper study reports those floors)
    budgets = [0.1] if quick else [0.25, 0.1]
    # The full run keeps its finished cells in the cache, one folder per family (it resumes after
    # an interruption, and a family added or re-trained leaves the others' cells standing); a
    # quick run checks the harness, so it always starts from nothing.
    root = Path(tempfile.mkdtemp(prefix="search_quality-")) if quick else cache_dir("benchmarks", "search_quality")
    works = {name: root / _work_name(name, preset) for name, preset in families.items()}
    tasks = [(seed, name) for name in families for seed in run_seeds]
    if not quick:  # each finished cell lands in the repository's store (benchmarks/kept) as it is saved
        for seed, name in tasks:
            link_kept(works[name] / f"seed-{seed}" / "cells", _kept_cells_dir(name, families[name], seed))
    if os.environ.get("SEARCH_QUALITY_FINISHED_ONLY") and not quick:
        results = []  # report the cells earlier runs finished (below), without running the rest
    elif quick:
        results = [_seed_cells(seed, quick, str(works[name]), {name: families[name]}, budgets, device, methods)
                   for seed, name in tasks]
    else:  # one process per (family, seed), as many at once as there are cores
        with ProcessPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1), mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_seed_cells, [seed for seed, _ in tasks], [quick] * len(tasks),
                                    [str(works[name]) for _, name in tasks], [{name: families[name]} for _, name in tasks],
                                    [budgets] * len(tasks), [device] * len(tasks), [methods] * len(tasks)))
    if not quick:
        # the report covers every family with finished cells in the store, not only the families this
        # run made: a run of one family adds to the others' results instead of replacing them. A
        # family without any (asked for, but none finished yet) gets no empty rows: an earlier run's
        # rows of it are carried over instead.
        families = {k: v for k, v in SEARCH_QUALITY_FAMILIES.items() if any(_has_kept_cells(k, v, s) for s in seeds)}
        known = set(Cell.__dataclass_fields__)
        results = [[{k: v for k, v in json.loads(f.read_text()).items() if k in known}
                    for f in sorted(_kept_cells_dir(name, preset, seed).glob("*.json"))]
                   for name, preset in families.items() for seed in seeds]
        results = [[c for c in seed_cells if c["method"] in methods or c["method"] == "dense"] for seed_cells in results]
    # each cell by its own seed, once (a cell found twice is the same child of the same seed)
    unique = {cell.key: cell for cell in (Cell(**c) for seed_cells in results for c in seed_cells)}
    seeded = [(cell.seed, cell) for cell in unique.values() if cell.seed in seeds]
    cells = [c for _, c in seeded]
    rows, goals, per_seed, paired = [], [], {}, {}
    for name, preset in families.items():
        for budget in budgets:
            row = {"family": f"{name}/{preset}", "budget": f"{budget:.0%}"}
            # the parent given the same fine-tune (each seed's dense cell): what the children lose
            dense = [c.ao for c in cells if c.family == name and c.method == "dense"]
            if dense:
                row["parent"] = f"{statistics.mean(dense):.3f}"
            means = {}
            for method in QUALITY_METHODS:
                mine = [c for c in cells if c.family == name and c.method == method and c.budget == budget]
                if not mine:
                    continue
                means[method] = statistics.mean(c.ao for c in mine)
                spread = statistics.pstdev(c.ao for c in mine) if len(mine) > 1 else 0.0
                reached = statistics.mean(c.reached for c in mine)
                row[method] = f"{means[method]:.3f} ± {spread:.3f} ({reached:.1%})" + (
                    "" if len(mine) == len(seeds) else f" [{len(mine)} of {len(seeds)} seeds]")
            rows.append(row)
            per_seed[row["family"] + " " + row["budget"]] = {
                method: [c.ao for c in cells if c.family == name and c.method == method and c.budget == budget]
                for method in QUALITY_METHODS}
            for searcher, other in COMPARED:
                diff = _paired_over_seeds(seeded, name, budget, searcher, other)
                if diff is None:
                    continue
                row[f"{searcher} - {other} [95 % CI]"] = (f"{diff.relative.value:+.1%} [{diff.relative.low:+.1%}, "
                                                          f"{diff.relative.high:+.1%}]")
                paired[f"{row['family']} {row['budget']} {searcher} - {other}"] = diff.as_dict()
                goals.append({"text": f"{name} at {budget:.0%}: {searcher} ≥ +10 % relative AO over {other}, paired 95 % CI above zero",
                              "measured": f"{diff.relative.value:+.1%} [{diff.relative.low:+.1%}, {diff.relative.high:+.1%}] "
                                          f"({searcher} {diff.a:.3f} vs {other} {diff.b:.3f})",
                              "met": diff.relative.value >= 0.10 and diff.difference.low > 0})
    old, carried = _previous(families, quick)
    floors = sorted({f"{c.family} {c.method} {c.budget:.0%} → {c.reached:.1%}" for c in cells if c.floor})
    # side by side: what each method's cell cost (its search or cut, then the same full validation)
    seconds = {name: {m: statistics.mean(c.seconds for c in cells if c.family == name and c.method == m)
                      for m in QUALITY_METHODS if any(c.family == name and c.method == m for c in cells)}
               for name in families}
    steps = {name: 2 if quick else trackers.get(name).validate_steps for name in families}
    notes = [f"Mean ± std of full-validation AO over seeds {seeds}: each child fine-tuned its family's validation steps "
             f"({', '.join(f'{n} {k}' for n, k in steps.items())}; batch 8, distillation from the parent), then tracked on "
             f"the first {1 if quick else YARDSTICK_VAL} sequences of the built-in val split (the yardstick split, "
             f"yardstick.md), its per-frame network in {'PyTorch' if quick else 'ONNX Runtime'}; in brackets the child's "
             "real share of the parent's per-frame MACs. parent: the unpruned parent given the same fine-tune and "
             "validation (mean over the seeds).",
             "Parents: the shipped demo parents trained on the built-in data. Search and random search at `autoprune "
             "search`'s defaults: 12 trials, 30-step proxy fine-tune, 4 val sequences tracked; the best-proxy feasible "
             "trial is the child. The search's first trial is "
             "the uniform shape at the whole budget (its default; random search has no such start), so it returns "
             "uniform's child unless its proxy ranks another above it. distill-loss: the same search and fine-tune, "
             "scored by minus the loss on fixed val pairs instead of tracking. oneshot: 8 trials scored by the one-shot "
             "proxy (a 200-step supernet per search, then each sliced child's family default score on fixed val pairs: minus "
             "the loss, for ostrack minus the distillation error).",
             "Budgets below the smallest child a method can make hold that method's smallest child: " + "; ".join(floors)
             if floors else "Every method reached every budget.",
             "Wall time per cell (the method's search or cut, then the same fine-tune and full validation), "
             "mean over seeds and budgets: " + "; ".join(f"{name}: " + ", ".join(f"{m} {v:.0f} s" for m, v in per.items())
                                                         for name, per in seconds.items()) + ".",
             "Every method's child gets the same fine-tune: the searches read the study's parent from a file, which now "
             "keeps its training flags (before, it read back as official weights, so at equal shapes the searched children "
             "of ostrack and siamrpn got a gentler backbone fine-tune than uniform's: the same ostrack 10 % child scored "
             "AO 0.073 searched and 0.083 uniform). Rows measured before that are not carried over.",
             _why_search_is_close(),
             *_left_out(families, methods, quick, carried),
             "Paired differences: the three seeds' children of two methods scored on the same val sequences, "
             "pooled as (seed, sequence) pairs and bootstrapped over them; relative to the second method's AO."]
    result = {"title": "Search quality at equal per-frame MACs", "rows": rows, "goals": goals,
              "columns": ["family", "budget", "parent", *QUALITY_METHODS, *(f"{a} - {b} [95 % CI]" for a, b in COMPARED)],
              "notes": notes, "per_seed_ao": per_seed, "paired": paired, "seconds_per_cell": seconds,
              "finetune_version": FINETUNE_VERSION, "parent_flags": PARENT_FLAGS}
    return _carry_over(result, old, carried) if carried else result


def _previous(families: dict, quick: bool) -> tuple[dict, list[str]]:
    """The previous results file, and its families this report has no cells of (carried over).

    Cells made before the store (benchmarks/kept) existed lived only in one machine's cache; a
    family measured that way keeps its published rows, marked as carried over, until it is re-run,
    instead of vanishing from the table when another family is measured. Only rows of the same
    fine-tune version and yardstick are carried."""
    import json

    from benchmarks._harness import RESULTS

    path = RESULTS / "search_quality.json"
    if quick or not path.is_file():
        return {}, []
    old = json.loads(path.read_text())
    # files written before the version was recorded were version 4, the first on the yardstick
    version = old.get("finetune_version", 4 if f"first {YARDSTICK_VAL} sequences" in " ".join(old.get("notes", [])) else None)
    # rows from before the searched children's parent kept its flags compared two fine-tunes
    if version != FINETUNE_VERSION or old.get("quick") or old.get("parent_flags") != PARENT_FLAGS:
        return {}, []
    mine = {f"{name}/{preset}" for name, preset in families.items()}
    return old, sorted({r["family"] for r in old["rows"]} - mine)


def _carry_over(result: dict, old: dict, carried: list[str]) -> dict:
    of = lambda text: any(text.startswith(f) for f in carried)  # noqa: E731
    result["rows"] += [{**r, "carried_over": True} for r in old["rows"] if r["family"] in carried]
    result["goals"] += [{**g, "carried_over": True} for g in old["goals"] if any(f.split("/")[0] + " " in g["text"] for f in carried)]
    result["per_seed_ao"].update({k: v for k, v in old.get("per_seed_ao", {}).items() if of(k)})
    result["paired"].update({k: v for k, v in old.get("paired", {}).items() if of(k)})
    result["seconds_per_cell"].update({k: v for k, v in old.get("seconds_per_cell", {}).items() if k not in result["seconds_per_cell"]
                                       and any(f.startswith(k + "/") for f in carried)})
    result["notes"].append(f"Carried over from the previous run of this benchmark (same fine-tune version {FINETUNE_VERSION}, same "
                           f"yardstick): {', '.join(carried)}. Its cells predate the store in benchmarks/kept, so they cannot "
                           "be re-scored here; `SEARCH_QUALITY_FAMILIES=" + ",".join(f.split("/")[0] for f in carried)
                           + " python -m benchmarks search_quality` re-measures and replaces them.")
    result["carried_over"] = carried
    return result


# the cheapest families first: an interrupted run has finished the most cells
SEARCH_QUALITY_FAMILIES = {"ostrack": "tiny", "stark": "small", "siamrpn": "small"}
QUALITY_METHODS = ("search", "distill-loss", "oneshot", "random", "uniform", "gates")  # table order
SEARCHERS = ("search", "distill-loss", "oneshot")  # the searches, each against both baselines
COMPARED = tuple((a, b) for a in SEARCHERS for b in ("uniform", "random"))
# Bump when the child fine-tune changes: cached cells are then results of another recipe.
# 2: child fine-tunes at the family's LR for trained weights; 3: the search starts from the
# uniform shape, ostrack tracks with size smoothing; 4: the yardstick (1280 val sequences in ONNX
# Runtime, each family's validation steps; stark's default tracker settings windowed)
FINETUNE_VERSION = 4
# Since when the searches' children get the uniform children's fine-tune: the search reads the
# study's parent from a file, which gave it the training flags of official weights (ostrack: the
# backbone at 0.1x the LR; siamrpn: also backbone BatchNorm frozen; every family's supernet: the
# LR for official weights) while uniform, gates and the dense parent cut the parent in memory. The
# same ostrack 10 % child scored AO 0.073 from the search, 0.083 from uniform. Searched cells of
# ostrack and stark's one-shot cells from before were removed from benchmarks/kept; stark's other
# searched cells stand (its fine-tune does not read the flag). Not part of the cells' folder tag:
# uniform, dense and gates cells did not change.
PARENT_FLAGS = "recorded"


def _parents_tag(families: dict) -> str:
    """Cached cells hold only for the same shipped parents and fine-tune."""
    import hashlib

    digest = hashlib.sha256(str(FINETUNE_VERSION).encode())
    for name, preset in sorted(families.items()):
        shipped = Path(trackers.__file__).parent / name / "weights" / f"{preset}-builtin.safetensors"
        digest.update(shipped.read_bytes() if shipped.is_file() else name.encode())
    return digest.hexdigest()[:12]


def _work_name(name: str, preset: str) -> str:
    return f"{name}-{preset}-{_parents_tag({name: preset})}"


def _kept_cells_dir(name: str, preset: str, seed: int) -> Path:
    """Where one family's cells of one seed are kept (benchmarks/kept), by parent and fine-tune version."""
    return kept_dir("search_quality", _work_name(name, preset), f"seed-{seed}")


def _has_kept_cells(name: str, preset: str, seed: int) -> bool:
    folder = kept_dir("search_quality") / _work_name(name, preset) / f"seed-{seed}"
    return folder.is_dir() and any(folder.glob("*.json"))


def _left_out(families: dict, methods: tuple, quick: bool, carried: list[str] = ()) -> list[str]:
    """A note naming the families and methods this run did not measure (SEARCH_QUALITY_FAMILIES / _METHODS)."""
    skipped = [f for f in SEARCH_QUALITY_FAMILIES if f not in families and f"{f}/{SEARCH_QUALITY_FAMILIES[f]}" not in carried]
    dropped = [m for m in QUALITY_METHODS if m not in methods]
    if quick or not (skipped or dropped):
        return []
    return [f"Not measured in this run: {', '.join(skipped + dropped)}. Their results on the earlier 64-sequence "
            "yardstick are in the git history of this file; they are not comparable with these."]


def _paired_over_seeds(seeded, family: str, budget: float, a: str, b: str):
    """Paired bootstrap of method ``a`` against ``b``: each seed's two children on the same sequences."""
    from autoprune.eval.uncertainty import paired_difference

    a_sums, b_sums, counts = [], [], []
    for seed, seed_cell in ((s, c) for s, c in seeded if c.family == family and c.method == a and c.budget == budget):
        twin = [c for s, c in seeded if c.family == family and c.method == b and c.budget == budget and s == seed]
        if not twin or not seed_cell.iou_sums or twin[0].frame_counts != seed_cell.frame_counts:
            continue
        a_sums += seed_cell.iou_sums
        b_sums += twin[0].iou_sums
        counts += seed_cell.frame_counts
    return paired_difference(a_sums, b_sums, counts) if counts else None


def _why_search_is_close() -> str:
    """What limits the search here, from the proxy-fidelity result when it has been measured."""
    import json

    from benchmarks._harness import RESULTS

    within = []
    for name, file in (("siamrpn", "proxy_fidelity"), ("ostrack", "proxy_fidelity_ostrack"), ("stark", "proxy_fidelity_stark")):
        path = RESULTS / f"{file}.json"
        if path.is_file():
            taus = json.loads(path.read_text()).get("taus_within_cost", {})
            if "proxy AO" in taus:
                within.append(f"{name} {taus['proxy AO']:+.2f} (ceiling {taus['full AO seed 0 vs 1']:+.2f})")
    measured = f" (Kendall tau within one cost: {', '.join(within)}; benchmarks/results/proxy_fidelity*.md)" if within else ""
    return ("Why the search is close to its baselines here: it can only pick children as well as its proxy ranks them "
            f"within one cost, and the 30-step proxy ranks them there weakly{measured}; 3 of its 12 trials are TPE's "
            "random start-up after the uniform start; and the AO spread between seeds is as large as the gaps between methods.")


FIDELITY_SCORES = ("proxy AO", "distill-loss", "oneshot loss", "oneshot distill", "oneshot AO")


def _tau_interval(scores: list[float], truth: list[float], draws: int = 2000, seed: int = 0) -> list[float]:
    """95 % bootstrap interval of Kendall tau, resampling children with replacement."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(seed)
    x, y = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, len(x), len(x))
        tau = kendalltau(x[pick], y[pick])[0]
        if math.isfinite(tau):
            values.append(tau)
    if not values:
        return [float("nan"), float("nan")]
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


class _RandomChildren:
    """What proxy_fidelity and supernet_start share: one family's demo parent, its random
    children in a fixed order, the supernet over them and the cache file names.

    Both benchmarks must name the same children and the same supernet: supernet_start reads
    the parent-slice results and the supernet proxy_fidelity cached (or makes them itself).
    """

    def __init__(self, name: str, preset: str, *, val_count: int, quick: bool, prefix: str) -> None:
        from autoprune.data import builtin_root, open_split
        from autoprune.prune.pruner import Pruner
        from autoprune.prune.space import load_space
        from autoprune.run.parent import prepare_parent
        from benchmarks._harness import weights_fingerprint

        self.name, self.preset, self.val_count, self.quick = name, preset, val_count, quick
        self.family = trackers.get(name)
        root = builtin_root()
        self.train, self.val = open_split(root, "train"), open_split(root, "val")[:val_count]
        self.parent = prepare_parent(self.family, preset=preset, checkpoint=None, data_root=root, builtin=True,
                                     progress=False).model
        self.pruner = Pruner(self.parent, load_space(name))
        self.full_macs = self.family.analytic_cost(self.parent.arch)["frame_macs"]
        # a full run keeps its supernets in the cache and each child's finished scores in the
        # repository's store (benchmarks/kept: it resumes on any clone); a quick run starts from nothing
        self.work = Path(tempfile.mkdtemp(prefix=prefix)) if quick else cache_dir("benchmarks", "proxy_fidelity")
        self.kept = self.work if quick else kept_dir("proxy_fidelity")
        self.key = weights_fingerprint(self.parent)  # cached scores hold only for the parent they were made with

    def macs(self, arch) -> float:
        return self.family.analytic_cost(arch)["frame_macs"]

    def draw(self, rng):
        """One child: random knobs projected to a random 8-80 % of the parent's MACs (the supernet's draws too)."""
        return self.pruner.project(self.pruner.space.random(rng), float(rng.uniform(0.08, 0.8)) * self.full_macs,
                                   self.macs)[0]

    def ground_truth(self, device: str):
        """How a child's full AO is measured, and on which sequences: full validation as `autoprune
        search` validates (the family's steps, the validation recipe), on the yardstick's val split
        in ONNX Runtime. The proxies keep the first ``val_count`` sequences (the same ones)."""
        from dataclasses import replace

        from autoprune.proxy import VALIDATION_RECIPE, ProxySettings

        if self.quick:
            return ProxySettings(steps=2, sequences=len(self.val), seed=0, device=device), self.val
        val = _yardstick_val(quick=False)
        settings = ProxySettings(steps=self.family.validate_steps, sequences=len(val), seed=0, device=device, runtime="onnx")
        return replace(settings, **VALIDATION_RECIPE), val

    def child_file(self, full, i: int) -> Path:
        """Child ``i``'s parent-slice fine-tune results (independent of the supernet), for ground truth ``full``."""
        return self.kept / f"child-{self.name}-{self.preset}-{self.key}-{self.truth_tag(full)}-{i}.json"

    def truth_tag(self, full) -> str:
        """What a ground truth's cached results depend on: the fine-tune's LR, steps and recipe, and
        the sequences and runtime that score it."""
        from autoprune.proxy.evaluator import finetune_lr

        return (f"lr{finetune_lr(self.family, full):g}-s{full.steps}-d{full.distill:g}-v{full.sequences}"
                f"{'' if full.runtime == 'torch' else '-' + full.runtime}")

    def supernet(self, settings, device: str):
        """The supernet over these children (trained and cached once), and the seconds its training took."""
        import json

        from autoprune.proxy.oneshot import load_supernet, save_supernet, train_supernet

        tag = f"{self.name}-{self.preset}-{self.key}-s{settings.steps}-lr{settings.lr_scale:g}"
        weights, summary_file = self.work / f"supernet-{tag}.safetensors", self.work / f"supernet-{tag}.json"
        if weights.is_file() and summary_file.is_file():
            return load_supernet(self.parent, weights), json.loads(summary_file.read_text())["seconds"]
        supernet, summary = train_supernet(self.family, self.pruner, self.train, draw_child=self.draw, settings=settings,
                                           device=device, progress=False)
        save_supernet(self.family, supernet.cpu(), weights)
        summary_file.write_text(json.dumps(summary))
        return supernet, summary["seconds"]


def proxy_fidelity(quick: bool, device: str = "cpu", *, name: str = "siamrpn", preset: str = "small") -> dict:
    """Kendall tau between each proxy score and full-validation AO over random children of one family.

    ``proxy_fidelity`` is siamrpn/small; ``proxy_fidelity_ostrack`` and ``proxy_fidelity_stark``
    (benchmarks/suite.py) run the same on those families' demo parents, each to its own file,
    so one family can be re-run without the others.

    The fine-tune proxy ("proxy AO", what `--proxy finetune` does) and the three one-shot
    scores of children cut from one supernet. A full run keeps the supernet and each child's
    scores in the repository's store (benchmarks/kept), so an interrupted run resumes where it
    stopped, on any clone. The children's full validations run on all cores.
    """
    import json
    import time

    from scipy.stats import kendalltau

    from autoprune.proxy import ProxySettings
    from autoprune.proxy.oneshot import OneShotScorer, OneShotSettings, SupernetSettings

    n, val_count = (3, 1) if quick else (24, 32)
    bench = _RandomChildren(name, preset, val_count=val_count, quick=quick, prefix="proxy_fidelity-")
    family, train, val, parent, pruner, draw = bench.family, bench.train, bench.val, bench.parent, bench.pruner, bench.draw
    proxy = ProxySettings(steps=1 if quick else FIDELITY_PROXY_STEPS, sequences=1 if quick else FIDELITY_PROXY_SEQUENCES,
                          seed=0, device=device)  # the search's defaults
    full, truth_val = bench.ground_truth(device)  # what validation does
    supernet_settings = SupernetSettings(steps=2 if quick else 200, seed=0)
    oneshot = OneShotSettings(sequences=proxy.sequences, held_out_batches=2 if quick else 8)
    rng = np.random.default_rng(0)
    drawn = [draw(rng) for _ in range(n)]  # child i is the same whichever process scores it
    # the kept part first (the supernet lives in this machine's cache only and is remade elsewhere)
    _child_rows(bench, drawn, device=device)
    supernet, supernet_seconds = bench.supernet(supernet_settings, device)
    scorer = OneShotScorer(family, pruner, supernet, train_sequences=train, val_sequences=val, settings=oneshot, device=device)
    rows, seconds = [], {"proxy AO": [], "distill-loss": [], "oneshot": []}
    for i, values in enumerate(drawn):
        row = json.loads(bench.child_file(full, i).read_text())
        row["full AO"] = (row["full AO seed 0"] + row["full AO seed 1"]) / 2
        start = time.perf_counter()
        scores = scorer.scores(values, which=("loss", "distill", "ao"))
        row["oneshot s"] = time.perf_counter() - start
        row.update({f"oneshot {'AO' if k == 'ao' else k}": v for k, v in scores.items()})
        seconds["proxy AO"].append(row["proxy AO s"])
        seconds["distill-loss"].append(row["distill-loss s"])
        seconds["oneshot"].append(row["oneshot s"])
        rows.append(row)
    full_ao = [r["full AO"] for r in rows]
    taus = {key: float(kendalltau([r[key] for r in rows], full_ao)[0]) for key in FIDELITY_SCORES + ("MMACs", "params (M)")}
    tau_ci = {key: _tau_interval([r[key] for r in rows], full_ao) for key in FIDELITY_SCORES + ("MMACs", "params (M)")}
    taus["full AO seed 0 vs 1"] = float(kendalltau([r["full AO seed 0"] for r in rows], [r["full AO seed 1"] for r in rows])[0])
    within = within_cost_taus(rows, FIDELITY_SCORES + ("params (M)",))
    best = max(FIDELITY_SCORES, key=lambda k: taus[k] if math.isfinite(taus[k]) else -2.0)
    baseline = max(taus["MMACs"], taus["params (M)"])
    goals = [{"text": f"tau({key}, full AO) ≥ 0.6 and above the MACs-only and params-only rankings",
              "measured": f"tau {taus[key]:+.2f} [{tau_ci[key][0]:+.2f}, {tau_ci[key][1]:+.2f}] (MACs {taus['MMACs']:+.2f}, params {taus['params (M)']:+.2f})",
              "met": taus[key] >= 0.6 and taus[key] > baseline} for key in FIDELITY_SCORES]
    per_trial = {k: statistics.mean(v) for k, v in seconds.items()}
    return {"title": f"Proxy fidelity: Kendall tau vs full-validation AO over {n} random {name}/{preset} children",
            "rows": rows, "columns": ["child", "MMACs", "params (M)", *FIDELITY_SCORES, "full AO seed 0", "full AO seed 1", "full AO"],
            "goals": goals,
            "notes": [f"Fine-tune proxy (proxy AO): {proxy.steps} fine-tune steps, {proxy.sequences} val sequences (the "
                      f"search's defaults); full AO: the mean of two full validations (seeds 0 and 1), each {full.steps} fine-tune steps with "
                      f"distillation from the parent (the family's validation steps and recipe), then the first {len(truth_val)} val "
                      f"sequences tracked (the yardstick split, yardstick.md) in {'ONNX Runtime' if full.runtime == 'onnx' else 'PyTorch'}. "
                      f"The one-shot and distill-loss scores use the first {len(val)}.",
                      f"One-shot: one supernet fine-tune of {supernet_settings.steps} steps (sandwich rule: the parent, the "
                      f"smallest child and {supernet_settings.random_children} random children per step, in-place "
                      f"distillation weight {supernet_settings.distill:g}, {supernet_settings.lr_scale:g}x the family's LR; {supernet_seconds:.0f} s), then per child: "
                      f"BatchNorm re-estimated on {oneshot.bn_batches} batches, minus the loss and minus the distillation "
                      f"error against the parent on {oneshot.held_out_batches} fixed val batches of "
                      f"{oneshot.batch_size} pairs, AO on {oneshot.sequences} val sequences.",
                      f"distill-loss: the same {proxy.steps}-step fine-tune, then minus the loss on the one-shot scores' "
                      "fixed val pairs (no tracking).",
                      f"Wall time per child: fine-tune proxy {per_trial['proxy AO']:.1f} s, distill-loss "
                      f"{per_trial['distill-loss']:.1f} s, all three one-shot scores "
                      f"{per_trial['oneshot']:.1f} s (plus the supernet once).",
                      "Children: random knob settings projected to random budgets between 8 % and 80 % of the parent's MACs "
                      "(the supernet's random children are drawn the same way).",
                      f"Best-ranking proxy here: {best} (tau {taus[best]:+.2f}). The full AO is itself two "
                      f"{full.steps}-step fine-tunes scored on {len(truth_val)} sequences, a ground truth with noise of its own (tau between "
                      f"its two seeds {taus['full AO seed 0 vs 1']:+.2f}): with {n} children a tau moves by about ±0.2 "
                      "between runs.",
                      within_cost_note(within)],
            "taus": taus, "tau_ci": tau_ci, "taus_within_cost": within, "best": best, "seconds_per_child": per_trial,
            "supernet_seconds": supernet_seconds}


FIDELITY_PROXY_STEPS, FIDELITY_PROXY_SEQUENCES = 30, 4  # the search's fine-tune proxy at its defaults


def _child_rows(bench: _RandomChildren, drawn: list, *, device: str) -> None:
    """Each child's parent-slice scores (fine-tune proxy, distill-loss, two full validations), kept.

    These are most of proxy_fidelity's time (two full validations per child), and the children
    are independent: they run in a pool of processes, one thread each, as many as there are cores
    (``PROXY_FIDELITY_WORKERS`` caps it). Finished children are skipped."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    name, preset, val_count, quick = bench.name, bench.preset, bench.val_count, bench.quick
    full, _ = bench.ground_truth(device)
    todo = [i for i in range(len(drawn)) if not _row_complete(bench.child_file(full, i))]
    # a quick run (a harness check) stays in one process unless asked
    asked = os.environ.get("PROXY_FIDELITY_WORKERS")
    workers = min(len(todo), int(asked or (1 if quick else os.cpu_count() or 1)))
    if workers <= 1:
        for i in todo:
            _score_child(name, preset, i, drawn[i], val_count, quick, device, str(bench.kept), bench)
        return
    n = len(todo)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_score_child, [name] * n, [preset] * n, todo, [drawn[i] for i in todo], [val_count] * n,
                      [quick] * n, [device] * n, [str(bench.kept)] * n))


_CHILD_FIELDS = ("proxy AO", "full AO seed 0", "full AO seed 1", "distill-loss")
_BENCHES: dict = {}  # one _RandomChildren per worker process and family


def _row_complete(path: Path) -> bool:
    import json

    return path.is_file() and all(k in json.loads(path.read_text()) for k in _CHILD_FIELDS)


def _score_child(name: str, preset: str, i: int, values, val_count: int, quick: bool, device: str, kept: str,
                 bench=None) -> None:
    """One child's parent-slice scores, each field kept as soon as it is measured."""
    import json
    import time
    from dataclasses import replace

    from autoprune.proxy import ProxySettings, finetune_child, proxy_score
    from autoprune.proxy.oneshot import HeldOutPairs, OneShotSettings

    torch.set_num_threads(1)
    if bench is None:
        bench = _BENCHES.get((name, preset)) or _BENCHES.setdefault(
            (name, preset), _RandomChildren(name, preset, val_count=val_count, quick=quick, prefix="proxy_fidelity-"))
    bench.kept = Path(kept)  # the caller's folder (a quick run's is its own temporary one)
    family, train, val, parent, pruner = bench.family, bench.train, bench.val, bench.parent, bench.pruner
    proxy = ProxySettings(steps=1 if quick else FIDELITY_PROXY_STEPS, sequences=1 if quick else FIDELITY_PROXY_SEQUENCES,
                          seed=0, device=device)
    full, truth_val = bench.ground_truth(device)
    done = bench.child_file(full, i)
    row = json.loads(done.read_text()) if done.is_file() else {}
    save = lambda: _write_json(done, row)  # noqa: E731
    if "full AO seed 0" not in row:
        for label, settings in (("proxy AO", proxy), ("full AO seed 0", full)):
            torch.manual_seed(i)
            child, arch = pruner.prune(values)
            start = time.perf_counter()
            row[label] = proxy_score(family, child, train_sequences=train, settings=settings, parent=parent,
                                     val_sequences=truth_val if settings is full else val).ao
            row[f"{label} s"] = time.perf_counter() - start
        cost = family.analytic_cost(arch)
        row.update({"child": i, "MMACs": cost["frame_macs"] / 1e6, "params (M)": cost["params"] / 1e6})
        save()
    if "full AO seed 1" not in row:  # a second fine-tune seed: the ground truth's own noise halves
        torch.manual_seed(i)
        child, _ = pruner.prune(values)
        row["full AO seed 1"] = proxy_score(family, child, train_sequences=train, val_sequences=truth_val,
                                            settings=replace(full, seed=1), parent=parent).ao
        save()
    if "distill-loss" not in row:  # the proxy's fine-tune again, then the loss on fixed val pairs (--proxy distill-loss)
        oneshot = OneShotSettings(sequences=proxy.sequences, held_out_batches=2 if quick else 8)
        held_out = HeldOutPairs(family, parent, val, batches=oneshot.held_out_batches, batch_size=oneshot.batch_size,
                                device=device)
        torch.manual_seed(i)
        child, _ = pruner.prune(values)
        start = time.perf_counter()
        finetune_child(family, child, train_sequences=train, settings=proxy, parent=parent)
        row["distill-loss"] = held_out.scores(child)["loss"]
        row["distill-loss s"] = time.perf_counter() - start
        save()


def _write_json(path: Path, record: dict) -> None:
    """A kept record, whole or not at all (a run killed mid-write leaves the previous one)."""
    import json

    from autoprune.checkpoint import atomic_write

    text = json.dumps(record)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _cost_residuals(values, log_macs):
    """What is left of ``values`` after a quadratic fit in log MACs: the part cost does not explain."""
    values, log_macs = np.asarray(values, dtype=float), np.asarray(log_macs, dtype=float)
    design = np.stack([np.ones_like(log_macs), log_macs, log_macs ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def within_cost_taus(rows: list[dict], scores) -> dict:
    """Kendall tau of each score against full AO once both have the cost's share removed.

    Random children span 8-80 % of the parent's MACs, and across that range cost alone ranks
    them well; the search compares children near one budget, where only the ranking within a
    cost counts. Both sides lose what a quadratic in log MACs explains. ``full AO seed 0 vs 1``
    is the ceiling: the ground truth's own repeatability within a cost.
    """
    from scipy.stats import kendalltau

    log_macs = np.log([r["MMACs"] for r in rows])
    truth = _cost_residuals([r["full AO"] for r in rows], log_macs)
    out = {}
    for key in scores:
        values = [r[key] for r in rows]
        values = np.log(values) if key == "params (M)" else values
        out[key] = float(kendalltau(_cost_residuals(values, log_macs), truth)[0])
    out["full AO seed 0 vs 1"] = float(kendalltau(_cost_residuals([r["full AO seed 0"] for r in rows], log_macs),
                                                  _cost_residuals([r["full AO seed 1"] for r in rows], log_macs))[0])
    return out


def within_cost_note(within: dict) -> str:
    ranked = ", ".join(f"{k} {v:+.2f}" for k, v in within.items() if k != "full AO seed 0 vs 1")
    return (f"Within a cost (Kendall tau once a quadratic in log MACs is taken out of both the score and full AO): {ranked}; "
            f"the ground truth's own two seeds agree at {within['full AO seed 0 vs 1']:+.2f}, the most any score can reach here.")


def supernet_start(quick: bool, device: str = "cpu", *, name: str = "ostrack", preset: str = "tiny") -> dict:
    """Full validation of a child fine-tuned from its supernet slice against from its parent slice.

    The children, the supernet and the parent-slice results are proxy_fidelity's (its cache):
    each child gets the same full-validation fine-tunes (seeds 0 and 1) from the supernet's weights,
    and the two starts are compared child by child.
    """
    import json
    from dataclasses import replace

    from autoprune.proxy import ProxySettings, proxy_score
    from autoprune.proxy.oneshot import SupernetSettings

    n, val_count = (2, 1) if quick else (12, 32)
    bench = _RandomChildren(name, preset, val_count=val_count, quick=quick, prefix="supernet_start-")
    family, train, val, parent, pruner, draw = bench.family, bench.train, bench.val, bench.parent, bench.pruner, bench.draw
    full, truth_val = bench.ground_truth(device)
    supernet_settings = SupernetSettings(steps=2 if quick else 200, seed=0)
    supernet, _ = bench.supernet(supernet_settings, device)
    from_supernet = pruner.cutting_from(supernet)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        values = draw(rng)
        parent_file = bench.child_file(full, i)
        row = json.loads(parent_file.read_text()) if parent_file.is_file() else {}
        for s in (0, 1):  # the parent-slice fine-tunes, where proxy_fidelity has not made them (quick mode)
            label = f"full AO seed {s}"
            if label not in row:
                torch.manual_seed(i)
                child, _ = pruner.prune(values)
                row[label] = proxy_score(family, child, train_sequences=train, val_sequences=truth_val,
                                         settings=replace(full, seed=s), parent=parent).ao
        done = bench.kept / (f"supernet-start-{name}-{preset}-{bench.key}-s{supernet_settings.steps}-"
                             f"{bench.truth_tag(full)}-{i}.json")
        mine = json.loads(done.read_text()) if done.is_file() else {}
        for s in (0, 1):
            if f"seed {s}" not in mine:
                torch.manual_seed(i)
                child, _ = from_supernet.prune(values)
                mine[f"seed {s}"] = proxy_score(family, child, train_sequences=train, val_sequences=truth_val,
                                                settings=replace(full, seed=s), parent=parent).ao
                if not quick:
                    _write_json(done, mine)
        cost = family.analytic_cost(pruner.prune(values)[1])
        parent_ao = (row["full AO seed 0"] + row["full AO seed 1"]) / 2
        supernet_ao = (mine["seed 0"] + mine["seed 1"]) / 2
        rows.append({"child": i, "MMACs": cost["frame_macs"] / 1e6, "from parent": parent_ao, "from supernet": supernet_ao,
                     "difference": supernet_ao - parent_ao})
    diffs = np.array([r["difference"] for r in rows])
    base = np.array([r["from parent"] for r in rows])
    boot = np.random.default_rng(0)
    draws = [diffs[p].mean() / base[p].mean() for p in (boot.integers(0, len(rows), len(rows)) for _ in range(2000))]
    rel, low, high = diffs.mean() / base.mean(), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
    wins = int((diffs > 0).sum())
    return {"title": f"Validation fine-tune from the supernet slice vs the parent slice, {n} {name}/{preset} children",
            "rows": rows, "columns": ["child", "MMACs", "from parent", "from supernet", "difference"],
            "goals": [{"text": "starting full validation's fine-tune from the supernet slice beats the parent slice "
                               "(mean relative AO, 95 % bootstrap CI over children above zero); where it does not, "
                               "validation keeps starting from the parent slice",
                       "measured": f"{rel:+.1%} [{low:+.1%}, {high:+.1%}], better for {wins} of {len(rows)} children",
                       "met": low > 0}],
            "notes": [f"Each child: the mean full-validation AO of two {full.steps}-step fine-tunes (seeds 0 and 1, distillation "
                      f"weight {full.distill:g}) on the first {len(truth_val)} val sequences, started from the parent's weights "
                      f"(proxy_fidelity's reference) or from the {supernet_settings.steps}-step supernet's (proxy_fidelity's "
                      "supernet); the same children, recipe and sequences as proxy_fidelity's ground truth."],
            "relative": rel, "interval": [low, high], "wins": wins}
