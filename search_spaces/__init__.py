"""The default search spaces, indexed: each family folder holds its own ``space.yaml``.

A family's default space lives beside its code (``trackers/<family>/space.yaml``), so a new
family is one folder; this package lists and reads them without importing any family (an
import pulls in torch). The file format is described in ``autoprune.prune.space``.

>>> import search_spaces
>>> search_spaces.names()
['ostrack', 'siamrpn', 'stark']
>>> search_spaces.source("siamrpn")
'trackers/siamrpn/space.yaml'
"""
from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

FILE = "space.yaml"


def _file(family: str) -> Traversable:
    return resources.files("trackers").joinpath(family, FILE)


def names() -> list[str]:
    """Families that ship a default space."""
    import trackers

    return [name for name in trackers.available() if _file(name).is_file()]


def source(family: str) -> str:
    """Where a family's default space lives, relative to the project root (for messages)."""
    return f"trackers/{family}/{FILE}"


def read(family: str) -> str:
    """The text of a family's default space; FileNotFoundError if it ships none."""
    if not family.isidentifier() or not _file(family).is_file():
        raise FileNotFoundError(source(family))
    return _file(family).read_text()
