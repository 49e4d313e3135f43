"""Benchmarks of the measuring stick itself: how far a score can be trusted.

- ``finetune_stability``: one 10 % child of a parent, fine-tuned with several recipes and
  several seeds; the recipe whose full-validation AO moves least with the seed is the one
  validation should use.
- ``yardstick``: per family, the parent's AO with its interval beside OpenCV MIL and the
  static box, and for one 10 % child fine-tuned with the validation recipe over 3 seeds:
  the seed spread, the interval's half-width and the smallest relative difference a paired
  comparison can resolve.

Every tracking result is kept per sequence (IoU sum and frame count), so intervals and paired
differences are computed from the same numbers the tables show. Finished evaluations are
cached, so an interrupted full run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import statistics
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

import trackers
from autoprune.cache import cache_dir
from benchmarks._harness import weights_fingerprint
from autoprune.data.synth import DEFAULT_VAL
from benchmarks._store import ResultStore, chunked_totals, first, merged, totals

FAMILIES = {"siamrpn": "small", "ostrack": "tiny", "stark": "small"}
CHILD_SHARE = 0.10  # of the parent's per-frame MACs
# The yardstick split: the default's 64 sequences resolve differences of 15-22 % only; the
# interval shrinks with the square root of the count, and 1280 (20x) reach the 5 % goal.
YARDSTICK_VAL = 1280
# Named tracker settings the yardstick also scores the parent with (not the family's default).
SETTING_VARIANTS = {"stark": ["unwindowed"]}
SEEDS = (0, 1, 2)
# Fine-tune recipes measured by finetune_stability (ProxySettings fields on top of STABILITY_STEPS,
# at the family's LR for trained weights); "distill" is the validation recipe (VALIDATION_RECIPE).
# The recipes were compared at siamrpn's earlier 150 validation steps; the winner, twice the
# steps, became its validate_steps (300).
STABILITY_STEPS = 150
STABILITY_RECIPES = {
    "plain": {},
    "distill": {"distill": 1.0},
    "distill+ema": {"distill": 1.0, "ema": 0.98},
    "distill+bn": {"distill": 1.0, "bn_batches": 20},
    "distill, 2x steps": {"distill": 1.0, "steps": 300},
}




def _interval(r: dict):
    from autoprune.eval.uncertainty import ao_interval

    return ao_interval(r["sums"], r["counts"])


def _setup(name: str, preset: str, quick: bool):
    from autoprune.data import builtin_root, open_split
    from autoprune.run.parent import prepare_parent

    family = trackers.get(name)
    root = builtin_root()
    train, val = open_split(root, "train"), open_split(root, "val")
    if quick:
        val = val[:2]
    prepared = prepare_parent(family, preset=preset, checkpoint=None, data_root=root, builtin=True, progress=False)
    return family, prepared.model, prepared.description, train, val


def _paired(a: dict, b: dict):
    from autoprune.eval.uncertainty import paired_difference

    return paired_difference(a["sums"], b["sums"], a["counts"])


def _points(diff) -> str:
    """An AO difference in points with its paired 95 % interval."""
    d = diff.difference
    return f"{100 * d.value:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"


def _test_split(quick: bool):
    from autoprune.data import builtin_root, open_split

    test = open_split(builtin_root(), "test")
    return test[:2] if quick else test


def _uniform_child(parent, share: float):
    from autoprune.prune.methods import prune_uniform

    family = trackers.get(parent.arch["family"])
    budget = share * family.analytic_cost(parent.arch)["frame_macs"]
    child, arch, _ = prune_uniform(parent, space=family.name, importance="l1", keep=None, budget_macs=budget)
    return child, arch


def _spread(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def _seed_pairs_resolvable(runs: list[dict]) -> tuple[float, list[dict]]:
    """The smallest relative difference a paired comparison resolves, from seed-to-seed pairs.

    Two fine-tunes of one child differ only by their seed, so any difference between them is
    noise. A real difference is resolved when it exceeds both that noise and the paired
    interval: the worst pair's |relative difference| + half-width of its interval.
    """
    from autoprune.eval.uncertainty import paired_difference

    worst, pairs = 0.0, []
    for a, b in itertools.combinations(range(len(runs)), 2):
        d = paired_difference(runs[a]["sums"], runs[b]["sums"], runs[a]["counts"])
        bound = abs(d.relative.value) + d.relative.half_width
        worst = max(worst, bound)
        pairs.append({"seeds": [a, b], "relative": d.relative.as_dict(), "bound": bound})
    return worst, pairs


def finetune_stability(quick: bool, device: str = "cpu", order: int = 1) -> dict:
    """Seed spread of one 10 % child's full-validation AO under each fine-tune recipe.

    On the yardstick split (1280 val sequences, where a seed-to-seed difference of a few percent
    is resolved), tracked in ONNX Runtime (``benchmarks/results/validation_runtime.md``: the
    same AO within noise, about 2x faster). ``order`` -1: a second process sharing the work.
    """
    from autoprune.eval import evaluate
    from autoprune.export.onnx_runtime import tracking_on

    name, preset = "siamrpn", "small"
    family, parent, weights, train, _ = _setup(name, preset, quick)
    val = _yardstick_val(quick)
    store = ResultStore(Path(tempfile.mkdtemp(prefix="stability-")) if quick else cache_dir("benchmarks", "yardstick"))
    steps = 2 if quick else STABILITY_STEPS
    seeds = SEEDS[:2] if quick else SEEDS
    recipes = dict(itertools.islice(STABILITY_RECIPES.items(), 2)) if quick else STABILITY_RECIPES
    hparams = family.make_tracker(parent).hp
    work = [(label, seed) for label in recipes for seed in seeds]
    scored: dict[tuple, dict] = {}
    for label, seed in (work if order >= 0 else work[::-1]):
        child = _child_weights(store, family, parent, train, recipe=recipes[label], steps=steps, seed=seed, device=device)

        def tracked(part, child=child) -> dict:
            with tracking_on("onnx", family, child, threads=1):
                return totals(evaluate(family.make_tracker(child), part, progress=False))

        identity = {"what": "child", "family": name, "weights": weights_fingerprint(child), "hparams": hparams, "runtime": "onnx"}
        scored[label, seed] = chunked_totals(store, identity, val, tracked, order=order)
    rows, per_recipe = [], {}
    for label, recipe in recipes.items():
        runs = [scored[label, s] for s in seeds]
        aos = [r["ao"] for r in runs]
        resolvable, pairs = _seed_pairs_resolvable(runs)
        per_recipe[label] = {"recipe": recipe, "ao": aos, "sr50": [r["sr50"] for r in runs],
                             "ci": [asdict(_interval(r)) for r in runs], "resolvable": resolvable, "pairs": pairs}
        rows.append({"recipe": label, "mean AO": statistics.mean(aos), "seed sd": _spread(aos),
                     "AO per seed": " / ".join(f"{100 * a:.1f}" for a in aos),
                     "worst seed pair (relative)": f"{max(abs(p['relative']['value']) for p in pairs):.1%}",
                     "resolvable paired diff": f"{resolvable:.1%}"})
    best = min(per_recipe, key=lambda k: per_recipe[k]["resolvable"])
    return {"title": f"Fine-tune stability: one {CHILD_SHARE:.0%} {name}/{preset} child, {len(seeds)} seeds per recipe",
            "rows": rows, "columns": ["recipe", "mean AO", "seed sd", "AO per seed", "worst seed pair (relative)",
                                      "resolvable paired diff"],
            "recipes": per_recipe, "steps": steps, "sequences": len(val), "most_stable": best,
            "goals": [{"text": "a recipe whose seeds a paired comparison cannot tell apart by more than 10 %",
                       "measured": f"{best}: {per_recipe[best]['resolvable']:.1%}", "met": per_recipe[best]["resolvable"] <= 0.10}],
            "notes": [f"Child: uniform L1 pruning of the shipped parent to {CHILD_SHARE:.0%} of its per-frame MACs; "
                      f"every recipe fine-tunes it {steps} steps (batch 8; a recipe's own 'steps' wins) at the family's "
                      f"LR for trained weights, then tracks all {len(val)} val sequences of the yardstick split, its "
                      "per-frame network in ONNX Runtime.",
                      "Resolvable paired diff: for each pair of seeds, |relative AO difference| + the half-width of its "
                      "paired 95 % bootstrap interval; the worst pair. Two models closer than this cannot be told apart.",
                      "Earlier runs of this benchmark (64 val sequences, the earlier parent, the from-scratch LR) are in "
                      "the git history; they could not resolve the differences between recipes.",
                      f"Most stable by that measure: {best}.",
                      f"Weights: {weights}"]}


def _yardstick_val(quick: bool):
    """The yardstick's val split: the built-in val split grown to YARDSTICK_VAL sequences (its
    first 64 are the default split's, sequence for sequence)."""
    from autoprune.data import builtin_root, builtin_split_root, open_split

    if quick:
        return open_split(builtin_root(), "val")[:3]
    return open_split(builtin_split_root("val", YARDSTICK_VAL), "val")


def _child_weights(store: ResultStore, family, parent, train, *, recipe: dict, steps: int, seed: int, device: str):
    """The uniform 10 % child after the validation fine-tune with ``seed``; its weights are kept
    in the store's folder, so another process and a later run evaluate the same child."""
    from safetensors.torch import load_file, save_file

    from autoprune.proxy import ProxySettings
    from autoprune.proxy.evaluator import finetune_child, finetune_lr

    child, _ = _uniform_child(parent, CHILD_SHARE)
    lr = finetune_lr(family, replace(ProxySettings(), **recipe))
    key = {"what": "child-weights", "family": family.name, "parent": weights_fingerprint(parent), "share": CHILD_SHARE,
           "recipe": recipe, "lr": lr, "steps": steps, "seed": seed}
    path = store.path(key).with_suffix(".safetensors")

    def run() -> dict:
        settings = replace(ProxySettings(steps=steps, seed=seed, device=device), **recipe)
        finetune_child(family, child, train_sequences=train, settings=settings, parent=parent)
        save_file({k: v.detach().cpu().contiguous() for k, v in child.state_dict().items()}, str(path))
        return {"file": path.name}

    if not path.is_file():
        store.path(key).unlink(missing_ok=True)  # a record whose weights file is gone: fine-tune again
    store.get_or_run(key, run)
    child.load_state_dict(load_file(str(path)))
    return child.eval()


def _parent_columns(label: str, n: int, parent: dict, test_parent: dict, ref: dict, test_ref: dict) -> tuple[dict, dict]:
    """The row's parent and reference columns, and their numbers: ``parent`` beside MIL and the static box."""
    cis = {"parent": _interval(parent), "mil": _interval(ref["mil"]), "static": _interval(ref["static"])}
    test_cis = {"parent": _interval(test_parent), "mil": _interval(test_ref["mil"])}
    versus_mil = {"val": _paired(parent, ref["mil"]), "test": _paired(test_parent, test_ref["mil"])}
    row = {"family": label, "val sequences": n, "parent AO [95 % CI]": cis["parent"].format(),
           "parent SR0.5": 100 * parent["sr50"], "MIL AO [95 % CI]": cis["mil"].format(),
           "MIL SR0.5": 100 * ref["mil"]["sr50"], "static AO": cis["static"].format(),
           "test: parent / MIL AO": f"{test_cis['parent'].format()} / {test_cis['mil'].format()}",
           "parent - MIL, val / test": " / ".join(_points(versus_mil[k]) for k in ("val", "test"))}
    numbers = {"parent": {**cis["parent"].as_dict(), "sr50": parent["sr50"]},
               "mil": {**cis["mil"].as_dict(), "sr50": ref["mil"]["sr50"]},
               "static": {**cis["static"].as_dict(), "sr50": ref["static"]["sr50"]},
               "parent_minus_mil": {k: v.as_dict() for k, v in versus_mil.items()}}
    return row, numbers


def _family_rows(name: str, preset: str, n: int, ref: dict, test_ref: dict, runs: list[dict]) -> tuple[dict, dict]:
    """One table row, and its numbers, for the first ``n`` val sequences of every result."""
    ref = {k: first(v, n) for k, v in ref.items()}
    runs = [first(r, n) for r in runs]
    row, numbers = _parent_columns(f"{name}/{preset}", n, ref["parent"], test_ref["parent"], ref, test_ref)
    child_cis = [_interval(r) for r in runs]
    half = max(ci.half_width for ci in child_cis + [_interval(ref["parent"])])
    parent_ao = ref["parent"]["ao"]
    resolvable, pairs = _seed_pairs_resolvable(runs)
    row.update({"child AO per seed": " / ".join(f"{100 * r['ao']:.1f}" for r in runs),
                "CI half-width / parent AO": f"{half / parent_ao:.1%}", "resolvable paired diff": f"{resolvable:.1%}"})
    numbers = {"sequences": n, **numbers,
               "child": {"ao": [r["ao"] for r in runs], "sr50": [r["sr50"] for r in runs],
                         "ci": [c.as_dict() for c in child_cis], "seed_sd": _spread([r["ao"] for r in runs])},
               "half_width_over_parent": half / parent_ao, "resolvable": resolvable, "pairs": pairs}
    return row, numbers


def yardstick(quick: bool, device: str = "cpu", order: int = 1) -> dict:
    """Per family: parent AO with its interval beside MIL and the static box; a 10 % child's seed spread.

    Measured on the yardstick split (YARDSTICK_VAL val sequences), and reported again for its
    first 64, the default val split that ``autoprune validate`` uses. ``order`` -1 walks the
    families and chunks in reverse: a second process started that way shares the work.
    """
    from autoprune.eval import evaluate
    from autoprune.eval.baselines import OpenCVTracker, StaticBoxTracker
    from autoprune.proxy.evaluator import VALIDATION_RECIPE

    store = ResultStore(Path(tempfile.mkdtemp(prefix="yardstick-")) if quick else cache_dir("benchmarks", "yardstick"))
    families = {"siamrpn": "small"} if quick else FAMILIES
    if order < 0:
        families = dict(reversed(list(families.items())))
    recipe = dict(VALIDATION_RECIPE)
    rows, goals, detail = [], [], {}
    # The test split is never tuned on (tracker settings are picked on val): the check that
    # the parent-vs-MIL comparison holds beyond the split it was tuned on.
    test = _test_split(quick)
    val = _yardstick_val(quick)
    sizes = [len(val)] if quick else [DEFAULT_VAL, len(val)]
    for name, preset in families.items():
        family, parent, weights, train, _ = _setup(name, preset, quick)
        hparams = family.make_tracker(parent).hp  # part of the parent's keys: other settings score other numbers
        parent_id = {"what": "parent", "family": name, "parent": weights_fingerprint(parent), "hparams": hparams}

        def scored(sequences, make_tracker, **identity) -> dict:
            """Per-sequence results of one tracker on ``sequences``, stored chunk by chunk under what it is."""
            return chunked_totals(store, identity, sequences,
                                  lambda part: totals(evaluate(make_tracker(), part, progress=False)), order=order)

        def make_parent():
            return family.make_tracker(parent)

        ref = {"static": scored(val, StaticBoxTracker, what="static"), "mil": scored(val, OpenCVTracker, what="mil"),
               "parent": scored(val, make_parent, **parent_id)}
        test_ref = {"mil": scored(test, OpenCVTracker, what="mil"), "parent": scored(test, make_parent, **parent_id)}
        steps = 2 if quick else family.validate_steps
        seeds = SEEDS[:2] if quick else SEEDS
        by_seed = {}
        for seed in (seeds if order >= 0 else tuple(reversed(seeds))):
            child = _child_weights(store, family, parent, train, recipe=recipe, steps=steps, seed=seed, device=device)
            child_id = {"what": "child", "family": name, "weights": weights_fingerprint(child), "hparams": hparams}
            by_seed[seed] = scored(val, lambda child=child: family.make_tracker(child), **child_id)
        runs = [by_seed[seed] for seed in seeds]
        per_size = {}
        for n in sizes:
            row, numbers = _family_rows(name, preset, n, ref, test_ref, runs)
            rows.append(row)
            per_size[str(n)] = numbers
        for variant in [] if quick else SETTING_VARIANTS.get(name, []):
            # the parent with another named tracker setting: the same weights tracked otherwise
            hp = family.make_tracker(parent, variant).hp
            tried = scored(val, lambda hp=variant: family.make_tracker(parent, hp), **{**parent_id, "hparams": hp})
            tried_test = scored(test, lambda hp=variant: family.make_tracker(parent, hp), **{**parent_id, "hparams": hp})
            row, numbers = _parent_columns(f"{name}/{preset}, --hparams {variant}", len(val), tried, tried_test, ref, test_ref)
            row.update({"child AO per seed": "-", "resolvable paired diff": "-",
                        "CI half-width / parent AO": f"{_interval(tried).half_width / tried['ao']:.1%}"})
            rows.append(row)
            per_size[f"{len(val)}, --hparams {variant}"] = {"parent": numbers["parent"], "hparams": hp,
                                                             "test": {**_interval(tried_test).as_dict(), "sr50": tried_test["sr50"]},
                                                             "parent_minus_mil": numbers["parent_minus_mil"]}
        measured = per_size[str(len(val))]
        parent_ao, mil = measured["parent"], measured["mil"]
        detail[name] = {"preset": preset, "weights": weights, "sequences": len(val), "steps": steps, "recipe": recipe,
                        "hparams": hparams, "seeds": list(seeds), "by_split_size": per_size,
                        "test": {"sequences": len(test), "parent": {**_interval(test_ref["parent"]).as_dict(), "sr50": test_ref["parent"]["sr50"]},
                                 "mil": {**_interval(test_ref["mil"]).as_dict(), "sr50": test_ref["mil"]["sr50"]}}}
        goals += [
            {"text": f"{name}: parent AO ≥ OpenCV MIL's ({len(val)} val sequences)", "met": parent_ao["value"] >= mil["value"],
             "measured": f"{100 * parent_ao['value']:.1f} vs {100 * mil['value']:.1f} (SR0.5 {100 * parent_ao['sr50']:.1f} vs "
                         f"{100 * mil['sr50']:.1f}; test split {100 * test_ref['parent']['ao']:.1f} vs {100 * test_ref['mil']['ao']:.1f})"},
            {"text": f"{name}: 95 % CI half-width ≤ 5 % of the parent's AO ({len(val)} val sequences)",
             "met": measured["half_width_over_parent"] <= 0.05,
             "measured": f"{measured['half_width_over_parent']:.1%} (on the default {DEFAULT_VAL}: "
                         f"{per_size.get(str(DEFAULT_VAL), measured)['half_width_over_parent']:.1%})"},
            {"text": f"{name}: resolvable paired difference ≤ 10 % ({len(val)} val sequences)", "met": measured["resolvable"] <= 0.10,
             "measured": f"{measured['resolvable']:.1%} (on the default {DEFAULT_VAL}: "
                         f"{per_size.get(str(DEFAULT_VAL), measured)['resolvable']:.1%})"},
        ]
    if order < 0:
        rows.reverse()
    return {"title": "The yardstick: parents, references and how small a difference the validation can see",
            "rows": rows, "goals": goals, "families": detail,
            "columns": ["family", "val sequences", "parent AO [95 % CI]", "parent SR0.5", "MIL AO [95 % CI]", "MIL SR0.5",
                        "static AO", "test: parent / MIL AO", "parent - MIL, val / test",
                        "child AO per seed", "CI half-width / parent AO", "resolvable paired diff"],
            "notes": [f"AO and SR in %, on the built-in val split: {len(val)} sequences (the yardstick split, "
                      "`autoprune data synth --val " f"{len(val)}`), and its first {DEFAULT_VAL}, which are the default val split "
                      "that `autoprune validate` uses. The test column: the never-tuned-on test split "
                      f"({len(test)} sequences). Intervals: 95 % bootstrap over sequences.",
                      "Tracker settings: each family's default set (in the JSON: hparams); ostrack's size_lr and "
                      "stark's were picked on the val split, so the test column is the unbiased comparison with MIL.",
                      f"Child: uniform L1 pruning to {CHILD_SHARE:.0%} of the parent's per-frame MACs, fine-tuned the "
                      "family's validation steps with the validation recipe, one run per seed; each row scores the "
                      "same three fine-tuned children.",
                      "Parent - MIL: the AO difference in points on the same sequences, paired 95 % bootstrap interval.",
                      "OpenCV MIL is not reproducible run to run: it draws samples from state that no seed reaches "
                      "(cv2.setRNGSeed changes nothing), and a second pass over the same sequences in one process "
                      "scores them differently (one sequence 0.08 then 0.68 AO). Its split AO is the mean over many such "
                      "draws: on the 64 test sequences, two runs gave 33.5 and 34.5.",
                      "CI half-width: the widest of the parent's and the children's intervals, over the parent's AO.",
                      "Resolvable paired diff: the worst seed pair's |relative AO difference| + half-width of its paired "
                      "interval (see finetune_stability)."]}


# Training recipes compared by parent_recipes: `autoprune train` options on top of the baseline.
PARENT_RECIPES = {"baseline": {}, "photometric": {"augment": "photometric"}, "camera": {"augment": "camera"}}


def _train_recipe(store: ResultStore, name: str, preset: str, recipe: dict, *, steps: int, data: Path, val, quick: bool) -> dict:
    from autoprune.data import open_split
    from autoprune.data.augment import PROFILES
    from autoprune.data.pairs import pair_loader
    from autoprune.eval import evaluate
    from autoprune.train import train

    family = trackers.get(name)

    def run() -> dict:
        torch.manual_seed(0)
        model = family.create(preset)
        batches = pair_loader(open_split(data, "train"), family.crop_spec(model.arch), batch_size=2 if quick else 16, seed=0,
                              augment=PROFILES[recipe.get("augment", "none")])
        out = None if quick else cache_dir("benchmarks", "parent_recipes", f"{name}-{preset}-{_key(recipe)}-{steps}")
        train(family, model, batches, steps=steps, out_dir=out, save_every=0 if quick else 200, resume=not quick,
              progress=False)
        return totals(evaluate(family.make_tracker(model.eval()), val, progress=False))

    return store.get_or_run({"what": "parent-recipe", "family": name, "preset": preset, "recipe": recipe, "steps": steps,
                             "data": str(data), "sequences": [s.name for s in val]}, run)


def _key(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]


def parent_recipes(quick: bool) -> dict:
    """Val AO of one family trained the same steps with each training recipe, paired against the baseline."""
    from autoprune.data import builtin_root, open_split
    from autoprune.eval.uncertainty import paired_difference

    name, preset = ("siamrpn", "tiny") if quick else ("siamrpn", "small")
    steps = 2 if quick else 1500
    data = builtin_root()
    val = open_split(data, "val")[: 2 if quick else None]
    store = ResultStore(Path(tempfile.mkdtemp(prefix="recipes-")) if quick else cache_dir("benchmarks", "yardstick"))
    recipes = dict(itertools.islice(PARENT_RECIPES.items(), 2)) if quick else PARENT_RECIPES
    scored = {label: _train_recipe(store, name, preset, r, steps=steps, data=data, val=val, quick=quick) for label, r in recipes.items()}
    base = scored["baseline"]
    rows, per = [], {}
    for label, r in scored.items():
        diff = paired_difference(r["sums"], base["sums"], base["counts"])
        per[label] = {"recipe": recipes[label], "ao": r["ao"], "sr50": r["sr50"], "ci": asdict(_interval(r)),
                      "vs_baseline": diff.as_dict()}
        rows.append({"recipe": label, "AO [95 % CI]": _interval(r).format(), "SR0.5": 100 * r["sr50"],
                     "vs baseline (relative, paired 95 % CI)": "-" if label == "baseline" else diff.relative.format(digits=1),
                     "resolved": "-" if label == "baseline" else ("yes" if diff.resolved else "no")})
    return {"title": f"Training recipes of {name}/{preset}: {steps} steps each, paired against the baseline",
            "rows": rows, "recipes": per, "steps": steps, "sequences": len(val),
            "columns": ["recipe", "AO [95 % CI]", "SR0.5", "vs baseline (relative, paired 95 % CI)", "resolved"],
            "notes": [f"Each recipe trains {name}/{preset} from random weights for {steps} steps (batch 16, seed 0) on the "
                      f"built-in train split and is scored on all {len(val)} val sequences.",
                      "Recipes: autoprune train --augment none / photometric / camera (autoprune/data/augment.py)."]}


def validation_runtime(quick: bool, device: str = "cpu") -> dict:
    """Full validation's tracking on PyTorch and on ONNX Runtime, side by side: time per frame and AO.

    Per family, the shipped parent and the yardstick's 10 % child (seed 0, its stored weights),
    each tracked over the same val sequences on both runtimes, one thread, in alternating
    blocks so both share the machine's state. The ratio is what ``--validate-runtime onnx``
    (and a study's ``eval_runtime: onnx``) saves; the paired AO difference is what it changes.
    """
    import time

    from autoprune.eval import evaluate
    from autoprune.export.onnx_runtime import tracking_on
    from autoprune.proxy.evaluator import VALIDATION_RECIPE

    torch.set_num_threads(1)
    store = ResultStore(Path(tempfile.mkdtemp(prefix="runtime-")) if quick else cache_dir("benchmarks", "yardstick"))
    val = _yardstick_val(quick)[: 2 if quick else 128]
    block = 1 if quick else 16
    families = {"siamrpn": "small"} if quick else FAMILIES
    rows, detail = [], {}
    for name, preset in families.items():
        family, parent, _, train, _ = _setup(name, preset, quick)
        child = _child_weights(store, family, parent, train, recipe=dict(VALIDATION_RECIPE), steps=2 if quick else family.validate_steps,
                               seed=0, device=device)
        for label, model in (("parent", parent.eval()), (f"{CHILD_SHARE:.0%} child", child)):
            seconds = {"torch": 0.0, "onnx": 0.0}
            parts = {"torch": [], "onnx": []}
            frames = 0
            for start in range(0, len(val), block):
                part = val[start:start + block]
                for runtime in ("torch", "onnx") if (start // block) % 2 == 0 else ("onnx", "torch"):
                    with tracking_on(runtime, family, model, threads=1):
                        began = time.perf_counter()
                        result = evaluate(family.make_tracker(model), part, progress=False)
                        seconds[runtime] += time.perf_counter() - began
                    parts[runtime].append(totals(result))
                frames += sum(len(s) for s in part)
            scored = {r: merged(p) for r, p in parts.items()}
            diff = _paired(scored["onnx"], scored["torch"])
            per_frame = {r: 1000 * s / frames for r, s in seconds.items()}
            rows.append({"family": f"{name}/{preset}", "model": label, "torch ms / frame": per_frame["torch"],
                         "onnx ms / frame": per_frame["onnx"], "speed-up": per_frame["torch"] / per_frame["onnx"],
                         "AO torch / onnx": f"{100 * scored['torch']['ao']:.1f} / {100 * scored['onnx']['ao']:.1f}",
                         "onnx - torch (paired 95 % CI)": _points(diff),
                         f"{YARDSTICK_VAL} sequences, torch / onnx (min)":
                             f"{per_frame['torch'] * frames / len(val) * YARDSTICK_VAL / 60000:.1f} / "
                             f"{per_frame['onnx'] * frames / len(val) * YARDSTICK_VAL / 60000:.1f}"})
            detail[f"{name}/{label}"] = {"ms_per_frame": per_frame, "frames": frames, "ao": {r: s["ao"] for r, s in scored.items()},
                                         "onnx_minus_torch": diff.as_dict()}
    ratios = [r["speed-up"] for r in rows]
    goals = [{"text": "ONNX Runtime tracks every model at least 1.5x faster per frame than PyTorch (one thread)",
              "measured": f"{min(ratios):.2f}-{max(ratios):.2f}x", "met": min(ratios) >= 1.5},
             {"text": "and changes no AO beyond noise (every paired interval of onnx - torch includes 0)",
              "measured": ", ".join(f"{k}: {100 * v['onnx_minus_torch']['difference']['value']:+.1f}" for k, v in detail.items()),
              "met": all(v["onnx_minus_torch"]["difference"]["low"] <= 0 <= v["onnx_minus_torch"]["difference"]["high"]
                         for v in detail.values())}]
    return {"title": "Full validation on PyTorch and on ONNX Runtime, side by side", "rows": rows, "goals": goals,
            "models": detail, "sequences": len(val),
            "columns": ["family", "model", "torch ms / frame", "onnx ms / frame", "speed-up", "AO torch / onnx",
                        "onnx - torch (paired 95 % CI)", f"{YARDSTICK_VAL} sequences, torch / onnx (min)"],
            "notes": [f"The first {len(val)} sequences of the yardstick's val split, in blocks of {block} tracked on one "
                      "runtime then the other (the order alternating), one thread. Time per frame: wall time of the whole "
                      "tracking loop (image decoding, crops, network, box decoding) over the frames tracked.",
                      "ONNX Runtime runs the per-frame network only; the template path (once per sequence) stays in PyTorch.",
                      "Float rounding differs between the runtimes, and a tracker amplifies a tiny difference once a "
                      "frame's best candidate flips, so single sequences can differ; the paired interval says whether "
                      "the split's AO does.",
                      f"The last column: the whole {YARDSTICK_VAL}-sequence split at these rates."]}
