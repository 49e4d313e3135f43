"""Search spaces: declarative knobs (YAML, one file per family) bound to a family's groups.

A file looks like::

    family: siamrpn
    multiple: 8            # kept channels are rounded to multiples of this (default 1)
    knobs:
      - name: layer2.inner
        groups: ["layer2.*.inner*"]   # glob patterns over the family's group names
        keep: [0.125, 1.0]            # keep-ratio range; never zero width
        step: 0.025                   # optional sampling step
      - name: blocks.heads
        groups: ["blocks.*.heads"]
        keep: [0.25, 1.0]
        per_group: true               # one knob per matched group (blocks.0.heads, ...)
      - name: layer3.depth
        depth: backbone.layer3        # a block container: how many removable blocks stay
        keep: [1, 5]
      - name: resolution
        crops: true                   # template and search crop sides, as a ratio (context kept)
        keep: [1.0, 1.0]              # pinned at 1: not searched ...
        extended: {keep: [0.5, 1.0], step: 0.125}   # ... unless the budget needs it

``extended`` gives a knob's range (``keep``, ``step``, ``multiple``) in the *extended*
space: the one a search binds when its budget is below the smallest child of the regular
space (``bind(..., extended=True)``). Budgets the regular space reaches search exactly it;
only budgets it cannot reach open the extreme ranges. A crops knob pinned at 1 is left out
of the regular space.

Every key is validated when read; an unknown or bad key is one error naming file, key and
the expected form.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from autoprune.errors import ConfigError
from autoprune.prune.apply import PruneConfig
from autoprune.prune.groups import Block, UnitGroup

_TOP_KEYS = {"family": "a tracker family name", "description": "text", "multiple": "a positive integer",
             "knobs": "a list of knob mappings"}
_KNOB_KEYS = {"name": "a unique text name", "groups": "a list of glob patterns over group names",
              "depth": "a block container name", "keep": "[low, high] with 0 < low <= high <= 1 (ratio) or integers (depth)",
              "step": "a positive number", "multiple": "a positive integer", "per_group": "true or false",
              "crops": "true (a crop-resolution knob: the ratio of the template and search crop sides)",
              "extended": "a mapping with keep and optionally step, multiple: the knob in the extended space",
              "optional": "true or false (skip the knob where a parent has no such group or container)"}
_EXTENDED_KEYS = ("keep", "step", "multiple")


@dataclass(frozen=True)
class Knob:
    name: str
    low: float
    high: float
    step: float | None = None
    groups: tuple[str, ...] = ()  # patterns (ratio knob)
    depth: str | None = None  # container (depth knob)
    multiple: int | None = None
    per_group: bool = False
    optional: bool = False
    crops: bool = False  # crop resolution (ratio of template and search sides)
    extended: Knob | None = None  # this knob in the extended space

    @property
    def is_depth(self) -> bool:
        return self.depth is not None

    @property
    def is_width(self) -> bool:
        return not self.is_depth and not self.crops


@dataclass(frozen=True)
class SearchSpace:
    family: str
    knobs: tuple[Knob, ...]
    multiple: int = 1
    source: str = "<memory>"
    description: str = ""


def _fail(source: str, key: str, expected: str, got: Any = None) -> ConfigError:
    shown = "" if got is None else f" (got {got!r})"
    return ConfigError(f"{source}: {key}: expected {expected}{shown}")


def _number(source, key, value, *, integer=False, positive=True):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (positive and value <= 0):
        raise _fail(source, key, "a positive integer" if integer else "a positive number", value)
    return value


def parse_space(data: Any, source: str) -> SearchSpace:
    """Validate a loaded YAML document and turn it into a :class:`SearchSpace`."""
    if not isinstance(data, dict):
        raise _fail(source, "top level", "a mapping with keys " + ", ".join(_TOP_KEYS), type(data).__name__)
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{source}: {key}: unknown key; expected one of {', '.join(_TOP_KEYS)}")
    if not isinstance(data.get("family"), str):
        raise _fail(source, "family", _TOP_KEYS["family"], data.get("family"))
    multiple = _number(source, "multiple", data.get("multiple", 1), integer=True)
    raw_knobs = data.get("knobs")
    if not isinstance(raw_knobs, list) or not raw_knobs:
        raise _fail(source, "knobs", "a non-empty list of knob mappings", raw_knobs)
    knobs, names = [], set()
    for i, raw in enumerate(raw_knobs):
        where = f"knobs[{i}]"
        if not isinstance(raw, dict):
            raise _fail(source, where, "a mapping", raw)
        for key in raw:
            if key not in _KNOB_KEYS:
                raise ConfigError(f"{source}: {where}.{key}: unknown key; expected one of {', '.join(_KNOB_KEYS)}")
        name = raw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise _fail(source, f"{where}.name", _KNOB_KEYS["name"], name)
        names.add(name)
        where = f"knobs[{i}] ({name})"
        if sum(key in raw for key in ("groups", "depth", "crops")) != 1:
            raise ConfigError(f"{source}: {where}: give exactly one of 'groups' (widths), 'depth' (blocks) or 'crops' (resolution)")
        if "crops" in raw and raw["crops"] is not True:
            raise _fail(source, f"{where}.crops", _KNOB_KEYS["crops"], raw["crops"])
        if "crops" in raw and any(k.crops for k in knobs):
            raise ConfigError(f"{source}: {where}: a space has at most one crops knob")
        if "depth" in raw and not isinstance(raw["depth"], str):
            raise _fail(source, f"{where}.depth", _KNOB_KEYS["depth"], raw["depth"])
        if "groups" in raw:
            groups = raw["groups"]
            if isinstance(groups, str):
                groups = [groups]
            if not (isinstance(groups, list) and groups and all(isinstance(g, str) for g in groups)):
                raise _fail(source, f"{where}.groups", _KNOB_KEYS["groups"], raw["groups"])
        per_group = raw.get("per_group", False)
        optional = raw.get("optional", False)
        for key, flag in (("per_group", per_group), ("optional", optional)):
            if not isinstance(flag, bool):
                raise _fail(source, f"{where}.{key}", "true or false", flag)
        knob = _ranged(source, where, raw, Knob(
            name=name, low=0.0, high=0.0,
            groups=tuple(raw.get("groups") if isinstance(raw.get("groups"), list) else [raw["groups"]]) if "groups" in raw else (),
            depth=raw.get("depth"), per_group=per_group, optional=optional, crops="crops" in raw,
        ))
        if "extended" in raw:
            ext = raw["extended"]
            if not isinstance(ext, dict) or "keep" not in ext or any(k not in _EXTENDED_KEYS for k in ext):
                raise _fail(source, f"{where}.extended", _KNOB_KEYS["extended"], ext)
            knob = replace(knob, extended=_ranged(source, f"{where}.extended", {**raw, **ext}, knob))
        knobs.append(knob)
    return SearchSpace(family=data["family"], knobs=tuple(knobs), multiple=multiple, source=source,
                       description=str(data.get("description", "")))


def _ranged(source: str, where: str, raw: dict, knob: Knob) -> Knob:
    """``knob`` with the range, step and multiple of ``raw``, checked for its kind."""
    keep = raw.get("keep")
    if not (isinstance(keep, list) and len(keep) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in keep)):
        raise _fail(source, f"{where}.keep", _KNOB_KEYS["keep"], keep)
    low, high = keep
    if knob.is_depth:
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            raise _fail(source, f"{where}.keep", "[low, high] whole numbers with 0 <= low <= high", keep)
    elif not 0 < low <= high <= 1:
        raise _fail(source, f"{where}.keep", "[low, high] with 0 < low <= high <= 1", keep)
    step = raw.get("step")
    if step is not None:
        _number(source, f"{where}.step", step)
    multiple = _number(source, f"{where}.multiple", raw["multiple"], integer=True) if "multiple" in raw else None
    return replace(knob, low=float(low), high=float(high), step=step, multiple=multiple)


def _former_builtin_path(path: Path) -> str | None:
    """The family of a ``search_spaces/<family>.yaml`` path, where default spaces were kept before
    they moved into the family folders; such paths still name the built-in space."""
    if path.parent.name == "search_spaces" and path.suffix == ".yaml" and not path.exists():
        return path.stem
    return None


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A family's built-in space (``siamrpn``) or a user's YAML file (``--space FILE``)."""
    import search_spaces

    path = Path(name_or_path)
    name = _former_builtin_path(path)
    if name is None and (path.suffix in (".yaml", ".yml") or path.exists()):
        if not path.is_file():
            raise ConfigError(f"search space {path}: no such file")
        text, source = path.read_text(), str(path)
    else:
        name = name or str(name_or_path)
        try:
            text = search_spaces.read(name)
        except FileNotFoundError:
            raise ConfigError(f"no built-in search space for {name!r}; pass --space FILE") from None
        source = search_spaces.source(name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # some YAML errors span lines
        raise ConfigError(f"{source}:{where}: not valid YAML ({problem})") from None
    return parse_space(data, source)


def _round_keep(ratio: float, group: UnitGroup, multiple: int) -> int:
    multiple = max(multiple, group.multiple)
    n = int(math.floor(ratio * group.size / multiple + 0.5)) * multiple
    n = max(n, multiple, group.min_keep)
    return min(n, group.size)


@dataclass
class BoundSpace:
    """A space resolved against one parent's groups and blocks."""

    space: SearchSpace
    knobs: list[Knob]  # per_group knobs expanded
    members: dict[str, list[UnitGroup]]  # knob name -> groups it sets
    containers: dict[str, int]  # depth knob name -> removable blocks in its container
    extended: bool = False  # bound with the knobs' extended ranges

    @property
    def crops(self) -> Knob | None:
        """The crop-resolution knob, if this space searches one."""
        return next((k for k in self.knobs if k.crops), None)

    def config(self, values: dict[str, float]) -> PruneConfig:
        """Knob values (ratios / block counts) -> a :class:`PruneConfig` of unit counts."""
        keep: dict[str, int] = {}
        depth: dict[str, int] = {}
        crop_scale = 1.0
        for knob in self.knobs:
            value = values.get(knob.name, knob.high)
            if knob.crops:
                crop_scale = float(value)
            elif knob.is_depth:
                depth[knob.depth] = int(round(min(value, self.containers[knob.name])))
            else:
                multiple = knob.multiple or self.space.multiple
                for g in self.members[knob.name]:
                    keep[g.name] = _round_keep(value, g, multiple)
        return PruneConfig(keep=keep, depth=depth, crop_scale=crop_scale)

    def full(self) -> dict[str, float]:
        return {k.name: (self.containers[k.name] if k.is_depth else 1.0) for k in self.knobs}

    def smallest(self) -> dict[str, float]:
        return {k.name: (min(k.low, self.containers[k.name]) if k.is_depth else k.low) for k in self.knobs}

    def uniform(self, ratio: float) -> dict[str, float]:
        """One keep ratio for every width knob (depth and crops kept full): the uniform baseline."""
        return {k.name: (self.containers[k.name] if k.is_depth else k.high if k.crops else min(max(ratio, k.low), k.high))
                for k in self.knobs}

    def uniform_start(self) -> dict[str, float]:
        """Trial parameters (as ``sample`` names and bounds them) of the uniform shape: every
        width knob at its top, depth and crops full. The budget projection scales all widths by
        one factor, so this projects to the uniform child at any target."""
        shape = self.uniform(1.0)
        return {k.name: (min(int(k.high), shape[k.name]) if k.is_depth else shape[k.name]) for k in self.knobs}

    def random(self, rng) -> dict[str, float]:
        """Uniformly random knob values from a ``numpy.random.Generator`` (tests, benchmarks)."""
        values = {}
        for k in self.knobs:
            if k.is_depth:
                top = min(int(k.high), self.containers[k.name])
                values[k.name] = int(rng.integers(min(int(k.low), top), top + 1))
            else:
                values[k.name] = float(rng.uniform(k.low, k.high))
        return values

    def sample(self, trial) -> dict[str, float]:
        values = {}
        for k in self.knobs:
            if k.is_depth:
                top = min(int(k.high), self.containers[k.name])
                values[k.name] = trial.suggest_int(k.name, min(int(k.low), top), top)
            else:
                values[k.name] = trial.suggest_float(k.name, k.low, k.high, step=k.step)
        return values


def bind(space: SearchSpace, groups: list[UnitGroup], blocks: list[Block], *, extended: bool = False) -> BoundSpace:
    """Resolve patterns and containers; a knob that matches nothing is an error.

    ``extended``: bind every knob with its ``extended`` range where it has one.
    """
    names = [g.name for g in groups]
    by_name = {g.name: g for g in groups}
    knobs: list[Knob] = []
    members: dict[str, list[UnitGroup]] = {}
    containers: dict[str, int] = {}
    claimed: dict[str, str] = {}
    for knob in space.knobs:
        if extended and knob.extended is not None:
            knob = knob.extended
        if knob.crops:
            if knob.low == knob.high == 1.0:
                continue  # pinned at full resolution: nothing to search
            knobs.append(knob)
            continue
        if knob.is_depth:
            removable = sum(b.removable for b in blocks if b.container == knob.depth)
            if not any(b.container == knob.depth for b in blocks):
                if knob.optional:
                    continue
                valid = ", ".join(sorted({b.container for b in blocks})) or "none"
                raise ConfigError(f"{space.source}: knob {knob.name}: depth {knob.depth!r} is no block container; valid: {valid}")
            knobs.append(knob)
            containers[knob.name] = removable
            continue
        matched = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in knob.groups)]
        if not matched and knob.optional:
            continue
        if not matched:
            raise ConfigError(f"{space.source}: knob {knob.name}: groups {list(knob.groups)} match no group; groups look like {', '.join(names[:5])}, ...")
        for n in matched:
            if n in claimed:
                raise ConfigError(f"{space.source}: group {n} is set by two knobs ({claimed[n]} and {knob.name}); make the patterns disjoint")
            claimed[n] = knob.name
        if knob.per_group:
            for n in matched:
                sub = Knob(name=f"{knob.name}[{n}]", low=knob.low, high=knob.high, step=knob.step, groups=(n,), multiple=knob.multiple)
                knobs.append(sub)
                members[sub.name] = [by_name[n]]
        else:
            knobs.append(knob)
            members[knob.name] = [by_name[n] for n in matched]
    if not knobs:
        raise ConfigError(f"{space.source}: no knob applies to this {space.family} parent")
    return BoundSpace(space=space, knobs=knobs, members=members, containers=containers, extended=extended)

