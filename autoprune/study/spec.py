"""A study spec: which parents, which budgets, which pruning methods, how much training.

A study is declared in YAML so a user can run the same experiment on their own checkpoints
and data (GPU, GOT-10k) without code; the format is documented in studies/README.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoprune.errors import ConfigError

METHODS = ("gates", "search", "distill-loss", "oneshot", "random", "uniform")
_TOP = {"name", "description", "data", "seed", "seeds", "budgets", "finetune_steps", "batch_size", "families", "methods",
        "max_sequences", "eval_runtime", "dense", "out"}
_FAMILY_KEYS = {"preset", "checkpoint", "parent_steps", "lr", "trust_pickle"}
_METHOD_KEYS = {
    "gates": {"steps", "mode", "layerwise_at_or_below"},
    "search": {"trials", "proxy_steps", "proxy_sequences", "sampler", "space", "uniform_start"},
    # the search scored by the distill-loss proxy (the same fine-tune, then the loss on fixed val pairs)
    "distill-loss": {"trials", "proxy_steps", "sampler", "space", "uniform_start"},
    # the search scored by the one-shot proxy (a weight-sharing supernet trained once per search)
    "oneshot": {"trials", "proxy_sequences", "sampler", "space", "uniform_start", "supernet_steps", "oneshot_score"},
    "random": {"trials", "proxy_steps", "proxy_sequences", "space"},  # the search with random sampling
    "uniform": {"importance", "space"},
}


@dataclass
class FamilySpec:
    name: str
    preset: str | None = None
    checkpoint: str | None = None
    parent_steps: int = 400
    lr: float | None = None
    trust_pickle: bool = False


@dataclass
class StudySpec:
    name: str
    source: Path
    families: list[FamilySpec]
    budgets: list[float]
    methods: dict[str, dict[str, Any]]
    data: str = "builtin"
    seed: int = 0  # the parents' seed, and the first of the children's
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # every (family, method, budget) cell runs once per seed
    finetune_steps: int = 150
    batch_size: int = 8
    max_sequences: int | None = None
    eval_runtime: str = "torch"  # where children are tracked for their scores: torch, or onnx (ONNX Runtime, CPU)
    description: str = ""
    # score each seed's dense parent with the children's fine-tune (retention needs it); a run that
    # shares its seed with another, which scores it, can leave it out
    dense: bool = True
    out: Path = field(default=Path("."))

    @property
    def builtin(self) -> bool:
        return self.data == "builtin"


def _fail(source, key: str, expected: str, got: Any = None) -> ConfigError:
    shown = "" if got is None else f", got {got!r}"
    return ConfigError(f"study spec {source}: {key} must be {expected}{shown}")


def _unknown(source, where: str, keys, allowed) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise ConfigError(f"study spec {source}: unknown key(s) {', '.join(map(str, extra))} in {where}; "
                          f"valid: {', '.join(sorted(allowed))}")


def _int(source, key, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(source, key, f"an integer >= {minimum}", value)
    return value


def _runtime(source: Path, value: Any) -> str:
    from autoprune.cost.runtime import RUNTIMES

    if value not in RUNTIMES:
        raise _fail(source, "eval_runtime", " or ".join(RUNTIMES), value)
    return str(value)


def parse_spec(data: Any, source: Path) -> StudySpec:
    import trackers

    if not isinstance(data, dict):
        raise _fail(source, "the file", "a mapping of study settings", type(data).__name__)
    _unknown(source, "the top level", data, _TOP)
    for key in ("name", "budgets", "families", "methods"):
        if key not in data:
            raise _fail(source, key, "given (see the format in studies/README.md)")
    name = data["name"]
    # the name is a folder beside the spec: '..' or a path would put the study's output elsewhere
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise _fail(source, "name", "a plain folder name (not '.' or '..', no '/')", name)
    budgets = data["budgets"]
    if not isinstance(budgets, list) or not budgets or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < 1 for b in budgets):
        raise _fail(source, "budgets", "a non-empty list of fractions in (0, 1)", budgets)
    families_raw = data["families"]
    if not isinstance(families_raw, dict) or not families_raw:
        raise _fail(source, "families", "a mapping of tracker family -> settings", families_raw)
    families = []
    for fname, settings in families_raw.items():
        if fname not in trackers.names():
            raise _fail(source, f"families.{fname}", f"one of {', '.join(trackers.names())}")
        settings = settings or {}
        if not isinstance(settings, dict):
            raise _fail(source, f"families.{fname}", f"a mapping with keys {', '.join(sorted(_FAMILY_KEYS))}", settings)
        _unknown(source, f"families.{fname}", settings, _FAMILY_KEYS)
        fam = FamilySpec(fname, **settings)
        if fam.preset is not None:
            try:
                trackers.get(fname).arch(fam.preset)
            except ConfigError as exc:  # names the valid presets; say where the bad one came from
                raise ConfigError(f"study spec {source}: families.{fname}.preset: {exc}") from None
        fam.parent_steps = _int(source, f"families.{fname}.parent_steps", fam.parent_steps, minimum=1)
        families.append(fam)
    methods = data["methods"]
    if not isinstance(methods, dict) or not methods:
        raise _fail(source, "methods", f"a mapping with some of {', '.join(METHODS)}", methods)
    for method, settings in methods.items():
        if method not in METHODS:
            raise _fail(source, f"methods.{method}", f"one of {', '.join(METHODS)}")
        if settings is not None and not isinstance(settings, dict):
            raise _fail(source, f"methods.{method}", "a mapping of settings", settings)
        _unknown(source, f"methods.{method}", settings or {}, _METHOD_KEYS[method])
    seed = _int(source, "seed", data.get("seed", 0), minimum=0)
    raw_seeds = data.get("seeds", 3)
    if isinstance(raw_seeds, list):
        if not raw_seeds or len(set(raw_seeds)) != len(raw_seeds):
            raise _fail(source, "seeds", "a count >= 1 or a list of distinct integers >= 0", raw_seeds)
        seeds = [_int(source, "seeds", s, minimum=0) for s in raw_seeds]
    else:
        seeds = [seed + i for i in range(_int(source, "seeds", raw_seeds, minimum=1))]
    spec = StudySpec(
        name=name, source=source, families=families, budgets=[float(b) for b in budgets],
        methods={m: dict(v or {}) for m, v in methods.items()}, data=str(data.get("data", "builtin")),
        seed=seed, seeds=seeds,
        finetune_steps=_int(source, "finetune_steps", data.get("finetune_steps", 150), minimum=0),
        batch_size=_int(source, "batch_size", data.get("batch_size", 8), minimum=1),
        max_sequences=None if data.get("max_sequences") is None else _int(source, "max_sequences", data["max_sequences"], minimum=1),
        eval_runtime=_runtime(source, data.get("eval_runtime", "torch")),
        description=str(data.get("description", "")).strip(),
        dense=_flag(source, "dense", data.get("dense", True)),
    )
    # Results go beside the spec by default (studies/<name>/), or where the spec says.
    out = Path(data["out"]) if data.get("out") else Path(name)
    spec.out = out if out.is_absolute() else (source.parent / out).resolve()
    return spec


def _flag(source, key: str, value) -> bool:
    if not isinstance(value, bool):
        raise _fail(source, key, "true or false", value)
    return value


def load_spec(path: str | Path) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study spec {path}: no such file; pass a YAML file such as studies/paper-stability.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"study spec {path}{line}: not valid YAML") from None
    return parse_spec(data, path.resolve())
