"""A search's settings: frozen, grouped by concern, and flat only where they are written down.

``run.json`` and the CLI name every option flat (``budget_value``, ``validate_steps``); the
code reads them by concern (``settings.budget.value``, ``settings.validation.steps``).
``SearchSettings.from_options`` and ``options()`` translate between the two, so the file a
run writes keeps its keys while nothing after construction changes a settings object:
a changed value is a new object (``dataclasses.replace`` or ``with_options``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from autoprune.errors import ConfigError
from autoprune.proxy.oneshot import ONESHOT_SCORES
from autoprune.run.budget import Budget

PROXIES = ("finetune", "distill-loss", "oneshot")
BACKENDS = ("optuna", "ray")
DEFAULT_PARENT_STEPS = 400  # training steps of a default parent on the built-in data (a few CPU minutes)


@dataclass(frozen=True)
class BudgetSettings:
    kind: str  # "mflops" (mega-MACs per tracked frame) or "ms" (per-frame latency)
    value: float
    min_share: float = 0.3  # each trial projects its child to a sampled share of the budget in [min_share, 1]
    runtime: str = "torch"  # where latency is measured (and, for a ms budget, budgeted): torch or onnx

    @property
    def limit(self) -> Budget:
        return Budget(self.kind, self.value)

    @property
    def unit(self) -> str:
        return self.limit.unit

    @property
    def tag(self) -> str:
        return self.limit.tag


@dataclass(frozen=True)
class ProxyOptions:
    """How a trial's child is scored."""

    # finetune: a short fine-tune per trial, then tracking; distill-loss: the same fine-tune, then the
    # loss on fixed val pairs; oneshot: children cut from one trained supernet
    kind: str = "finetune"
    steps: int = 30
    sequences: int = 4
    distill: float = 0.0  # weight of matching the parent's outputs in fine-tunes (0: off)
    supernet_steps: int = 300  # the one-shot proxy's supernet fine-tune, once per search
    oneshot_score: str | None = None  # one of ONESHOT_SCORES; None: the family's (resolve)


@dataclass(frozen=True)
class Parallelism:
    backend: str = "optuna"
    workers: int = 1
    threads: int = 1  # torch threads per worker: one thread per process scales best on small children
    device: str = "cpu"  # cpu, cuda (workers spread over every GPU), cuda:N or auto; run.json keeps it resolved
    amp: str | None = None  # bf16 / fp16 autocast in fine-tunes (CUDA only)
    ray_address: str | None = None


@dataclass(frozen=True)
class ValidationSettings:
    steps: int | None = None  # None: the family's default (resolve fills it in)
    max_children: int = 3  # 0: skip validation (and export)
    sequences: int | None = None  # full validation tracks the first N val sequences (None: all)
    runtime: str = "torch"  # where full validation tracks: torch, or onnx (ONNX Runtime on the CPU, about 2x faster)


@dataclass(frozen=True)
class ExportSettings:
    enabled: bool = True


# Flat option name (run.json key, as the CLI spells it) -> (group, field). Names not listed
# are fields of SearchSettings itself. The order is run.json's.
_GROUPED = {
    "budget_kind": ("budget", "kind"), "budget_value": ("budget", "value"), "min_share": ("budget", "min_share"),
    "runtime": ("budget", "runtime"),
    "proxy": ("proxy", "kind"), "proxy_steps": ("proxy", "steps"), "proxy_sequences": ("proxy", "sequences"),
    "distill": ("proxy", "distill"), "supernet_steps": ("proxy", "supernet_steps"),
    "oneshot_score": ("proxy", "oneshot_score"),
    "backend": ("parallel", "backend"), "workers": ("parallel", "workers"), "threads": ("parallel", "threads"),
    "device": ("parallel", "device"), "amp": ("parallel", "amp"), "ray_address": ("parallel", "ray_address"),
    "validate_steps": ("validation", "steps"), "validate_max": ("validation", "max_children"),
    "validate_sequences": ("validation", "sequences"), "validate_runtime": ("validation", "runtime"),
    "export": ("export", "enabled"),
}
_OPTION_ORDER = (
    "tracker", "budget_kind", "budget_value", "preset", "checkpoint", "trust_pickle", "data", "space", "trials",
    "timeout", "proxy_steps", "proxy_sequences", "proxy", "supernet_steps", "oneshot_score", "min_share", "runtime",
    "study_name", "storage", "sampler", "uniform_start", "seed", "workers", "threads", "backend", "device", "amp", "importance",
    "runs_dir", "trial_timeout", "distill", "parent_steps", "validate_steps", "validate_max", "validate_sequences",
    "validate_runtime", "export", "ray_address", "command",
)
_GROUP_TYPES = {"budget": BudgetSettings, "proxy": ProxyOptions, "parallel": Parallelism,
                "validation": ValidationSettings, "export": ExportSettings}


@dataclass(frozen=True)
class SearchSettings:
    tracker: str
    budget: BudgetSettings
    preset: str | None = None
    checkpoint: str | None = None
    trust_pickle: bool = False  # allow pickled objects in --checkpoint (runs code: only for trusted files)
    data: str | None = None
    space: str | None = None
    trials: int = 12
    timeout: float | None = None
    trial_timeout: float | None = None
    study_name: str | None = None
    storage: str | None = None
    sampler: str = "tpe"
    uniform_start: bool = True  # the first trial holds the uniform shape (search/trials.py: fill_budget_first)
    seed: int = 0
    importance: str = "l1"
    runs_dir: str = "runs"
    parent_steps: int = DEFAULT_PARENT_STEPS
    command: str = ""  # the command line that made the run (the CLI passes it); shown in exports' cards
    proxy: ProxyOptions = field(default_factory=ProxyOptions)
    parallel: Parallelism = field(default_factory=Parallelism)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    export: ExportSettings = field(default_factory=ExportSettings)

    # ---- flat options (run.json, the CLI) ---------------------------------------------
    @classmethod
    def from_options(cls, **options) -> SearchSettings:
        """Settings from flat option names (``budget_value=50``, ``validate_steps=150``, ...)."""
        unknown = sorted(set(options) - set(_OPTION_ORDER))
        if unknown:
            raise TypeError(f"unknown search option(s): {', '.join(unknown)}")
        groups: dict[str, dict] = {name: {} for name in _GROUP_TYPES}
        top = {}
        for name, value in options.items():
            if name in _GROUPED:
                group, attr = _GROUPED[name]
                groups[group][attr] = value
            else:
                top[name] = value
        if "kind" not in groups["budget"] or "value" not in groups["budget"]:
            raise TypeError("search options need budget_kind and budget_value")
        return cls(**top, **{name: _GROUP_TYPES[name](**values) for name, values in groups.items()})

    @classmethod
    def from_record(cls, meta: dict) -> SearchSettings:
        """The settings a run was made with, from its run.json (keys this version does not know are left out)."""
        return cls.from_options(**{k: v for k, v in meta.items() if k in _OPTION_ORDER})

    def options(self) -> dict:
        """Every option by its flat name, in run.json's order."""
        out = {}
        for name in _OPTION_ORDER:
            if name in _GROUPED:
                group, attr = _GROUPED[name]
                out[name] = getattr(getattr(self, group), attr)
            else:
                out[name] = getattr(self, name)
        return out

    def with_options(self, **options) -> SearchSettings:
        """A copy with some flat options changed."""
        return SearchSettings.from_options(**{**self.options(), **options})

    # ---- derived -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.study_name or f"{self.tracker}-{self.budget.tag}"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir).resolve() / self.name

    def resolve(self, family) -> SearchSettings:
        """These settings checked, with what the family and this machine decide filled in.

        ``family``: the tracker family (its validation steps); the device becomes a concrete
        one (``auto`` -> ``cpu`` or ``cuda``), as run.json records it.
        """
        from autoprune.device import check_amp, resolve_device

        check(self)
        device = resolve_device(self.parallel.device)
        parallel = dataclasses.replace(self.parallel, device=device, amp=check_amp(self.parallel.amp, device))
        steps = self.validation.steps if self.validation.steps is not None else family.validate_steps
        score = self.proxy.oneshot_score or family.oneshot_score
        return dataclasses.replace(self, parallel=parallel, validation=dataclasses.replace(self.validation, steps=steps),
                                   proxy=dataclasses.replace(self.proxy, oneshot_score=score))

    def on_device(self, device: str | None, amp: str | None = None) -> SearchSettings:
        """The same run on ``device`` (with ``amp`` or none) when given, e.g. a GPU run validated on a CPU."""
        if device is None:
            return self
        return dataclasses.replace(self, parallel=dataclasses.replace(self.parallel, device=device, amp=amp))


def check(s: SearchSettings) -> None:
    """One ConfigError line for a value no stage could use (the sampler is checked where samplers live)."""
    if s.parallel.backend not in BACKENDS:
        raise ConfigError(f"unknown backend {s.parallel.backend!r}; valid: {', '.join(BACKENDS)}")
    if s.proxy.kind not in PROXIES:
        raise ConfigError(f"unknown proxy {s.proxy.kind!r}; valid: {', '.join(PROXIES)}")
    if s.proxy.oneshot_score is not None and s.proxy.oneshot_score not in ONESHOT_SCORES:
        raise ConfigError(f"unknown one-shot score {s.proxy.oneshot_score!r}; valid: {', '.join(ONESHOT_SCORES)}")
    if not 0.0 < s.budget.min_share <= 1.0:
        raise ConfigError(f"--min-budget-share must be in (0, 1], got {s.budget.min_share:g}; "
                          "e.g. 0.3 (1: every child fills the budget)")
    from autoprune.cost.runtime import check_runtime

    check_runtime(s.budget.runtime)
    check_runtime(s.validation.runtime)
    if s.validation.runtime == "onnx" and s.parallel.device not in ("cpu", "auto"):
        raise ConfigError(f"--validate-runtime onnx tracks in ONNX Runtime on the CPU, not on {s.parallel.device}; "
                          "drop --validate-runtime or use --device cpu")
    if s.study_name is not None and (not s.study_name or "/" in s.study_name):
        raise ConfigError(f"--study-name {s.study_name!r}: use a plain name without '/'")
