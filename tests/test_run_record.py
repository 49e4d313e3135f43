"""Search settings are frozen and grouped, and run.json keeps its flat keys (older runs read back)."""
from __future__ import annotations

import dataclasses
import json

import pytest

import trackers
from autoprune.run.record import RunRecord, read_record, write_record
from autoprune.run.settings import SearchSettings

# run.json's option keys, in the order every run so far wrote them
RUN_JSON_OPTIONS = [
    "tracker", "budget_kind", "budget_value", "preset", "checkpoint", "trust_pickle", "data", "space", "trials",
    "timeout", "proxy_steps", "proxy_sequences", "proxy", "supernet_steps", "oneshot_score", "min_share", "runtime",
    "study_name", "storage", "sampler", "uniform_start", "seed", "workers", "threads", "backend", "device", "amp", "importance",
    "runs_dir", "trial_timeout", "distill", "parent_steps", "validate_steps", "validate_max", "validate_sequences",
    "validate_runtime", "export", "ray_address", "command",
]


def _settings(**kw) -> SearchSettings:
    return SearchSettings.from_options(**{"tracker": "siamrpn", "budget_kind": "mflops", "budget_value": 50.0, **kw})


def test_flat_options_land_in_their_groups_and_come_back_in_run_json_order():
    s = _settings(proxy="oneshot", proxy_steps=7, workers=2, validate_max=0, export=False, min_share=0.5)
    assert (s.budget.value, s.budget.min_share, s.budget.tag) == (50.0, 0.5, "50m")
    assert (s.proxy.kind, s.proxy.steps, s.parallel.workers) == ("oneshot", 7, 2)
    assert (s.validation.max_children, s.export.enabled) == (0, False)
    assert list(s.options()) == RUN_JSON_OPTIONS
    assert SearchSettings.from_options(**s.options()) == s
    with pytest.raises(TypeError, match="unknown search option"):
        _settings(budget_mflops=50)


def test_settings_never_change_after_construction():
    s = _settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.trials = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.budget.value = 10.0
    changed = s.with_options(trials=3, budget_value=10.0)
    assert (changed.trials, changed.budget.value) == (3, 10.0) and (s.trials, s.budget.value) == (12, 50.0)
    resolved = s.resolve(trackers.get("stark"))
    assert resolved.validation.steps == trackers.get("stark").validate_steps and s.validation.steps is None
    assert s.command == ""  # the command line is the CLI's to give, not read from the process


def test_run_json_round_trip_masks_the_password_and_reads_an_older_run(tmp_path):
    s = _settings(storage="postgresql://bob:hunter2@db/x", command="autoprune search --storage postgresql://bob:hunter2@db/x")
    write_record(tmp_path, RunRecord(settings=s, parent="p", parent_note="parent: x", parent_cost=172.1,
                                     smallest_cost=3.2, budget_unit=s.budget.unit, device_name="CPU"))
    meta = read_record(tmp_path)
    assert list(meta)[: len(RUN_JSON_OPTIONS)] == RUN_JSON_OPTIONS and meta["study_name"] == "siamrpn-50m"
    assert "hunter2" not in json.dumps(meta)
    record = RunRecord.from_meta(meta)
    assert (record.parent_cost, record.budget_unit, record.study_name) == (172.1, "M FLOPs (MACs)", "siamrpn-50m")
    # a run written before validate_steps, the proxy options and the budget unit were recorded
    old = {"tracker": "siamrpn", "budget_kind": "mflops", "budget_value": 30, "study_name": "old", "unknown_key": 1}
    record = RunRecord.from_meta(old)
    assert record.validate_steps == 150 and record.settings.proxy.kind == "finetune" and record.budget_unit is None
