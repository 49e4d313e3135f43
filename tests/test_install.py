"""The pinned install: constraints.txt pins every package autoprune needs, within pyproject's ranges."""
from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("dev", "onnx", "ray")  # what `make` installs


def read_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=]+)", line)
        assert match, f"constraints.txt line {number}: {line!r} is not an exact pin NAME==VERSION"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = match.group(2)
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def needed_distributions() -> set[str]:
    """Every distribution the installed autoprune[dev,onnx,ray] pulls in, by installed metadata."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in project_requirements()]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        key = name + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. a platform-only package); the pin check below covers it
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker and not any(sub.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            todo.append((sub, frozenset(sub.extras)))
    return {key.split("[", 1)[0] for key in seen}


def test_constraints_are_exact_pins_within_pyproject_ranges():
    pins = read_pins()
    for req in project_requirements():
        name = canonicalize_name(req.name)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        assert name in pins, f"constraints.txt does not pin {name}, a requirement in pyproject.toml"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {req}")


def test_constraints_pin_every_package_the_install_pulls_in():
    pins = read_pins()
    missing = sorted(n for n in needed_distributions() if n not in pins and n != "autoprune")
    assert not missing, f"constraints.txt misses {missing}; regenerate it (see its header)"


def _installed_with_constraints() -> bool:
    stamp = Path(sys.prefix) / ".autoprune-installed"
    return stamp.is_file() and "constraints.txt" in stamp.read_text()


@pytest.mark.skipif(not _installed_with_constraints(), reason="this environment was not installed with constraints.txt")
def test_installed_versions_are_the_pinned_ones():
    pins = read_pins()
    wrong = []
    for name in sorted(needed_distributions()):
        if name == "autoprune" or name not in pins:
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(version).public != Version(pins[name]).public:  # torch 2.14.1+cpu is the pinned 2.14.1
            wrong.append(f"{name} {version} (pinned {pins[name]})")
    assert not wrong, f"installed versions differ from constraints.txt: {wrong}"
