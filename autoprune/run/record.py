"""``run.json``: what a search run was made with, written once and read by every later command.

The file holds the settings by their flat option names (as the CLI spells them) and what the
search found out before its first trial (the parent, its cost, the device). ``validate`` and
``export`` read it back as a :class:`RunRecord`, so they need only the run directory.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autoprune.redact import mask_secrets
from autoprune.run.settings import SearchSettings

RECORD_FILE = "run.json"
# Runs written before run.json kept validate_steps were validated with this many steps.
UNRECORDED_VALIDATE_STEPS = 150


@dataclass(frozen=True)
class RunRecord:
    settings: SearchSettings
    parent: str | None = None  # where the parent's weights came from
    parent_note: str | None = None  # the one line telling the user what the parent is
    parent_cost: float | None = None  # in budget units
    smallest_cost: float | None = None  # the smallest child the space can make, in budget units
    budget_unit: str | None = None
    device_name: str | None = None

    @property
    def study_name(self) -> str:
        return self.settings.name

    @property
    def validate_steps(self) -> int:
        steps = self.settings.validation.steps
        return UNRECORDED_VALIDATE_STEPS if steps is None else steps

    @classmethod
    def from_meta(cls, meta: dict) -> RunRecord:
        return cls(settings=SearchSettings.from_record(meta), parent=meta.get("parent"),
                   parent_note=meta.get("parent_note"), parent_cost=meta.get("parent_cost"),
                   smallest_cost=meta.get("smallest_cost"), budget_unit=meta.get("budget_unit"),
                   device_name=meta.get("device_name"))

    def to_meta(self) -> dict:
        """run.json's content: the options (no password), then what the search found before its trials."""
        meta = self.settings.options()
        meta.update(storage=mask_secrets(self.settings.storage), command=mask_secrets(self.settings.command))
        meta.update(study_name=self.study_name, parent=self.parent, parent_note=self.parent_note,
                    parent_cost=self.parent_cost, smallest_cost=self.smallest_cost, budget_unit=self.budget_unit,
                    device_name=self.device_name)
        return meta


def read_record(run_dir: Path) -> dict:
    """run.json of ``run_dir`` as written (keys and values untouched)."""
    return json.loads((Path(run_dir) / RECORD_FILE).read_text())


def write_record(run_dir: Path, record: RunRecord) -> None:
    from autoprune.checkpoint import atomic_write

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record.to_meta(), indent=2)
    atomic_write(run_dir / RECORD_FILE, lambda tmp: Path(tmp).write_text(text))
