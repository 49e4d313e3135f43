"""`autoprune study`: a whole (tiny) study run for real, resumed, reported; bad specs refused."""
import json

import pytest

from autoprune.cli import main
from autoprune.errors import ConfigError
from autoprune.study import load_spec

QUICK = """
name: quick
data: builtin
seed: 0
budgets: [0.5, 0.01]
finetune_steps: 2
batch_size: 2
max_sequences: 1
families:
  ostrack: {preset: tiny}
  siamrpn: {preset: tiny, parent_steps: 2}
methods:
  gates: {steps: 2, layerwise_at_or_below: 0.01}
  uniform: {}
  search: {trials: 2, proxy_steps: 1, proxy_sequences: 1, sampler: random}
"""


def test_quick_study_runs_resumes_and_reports(tmp_path, capsys):
    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK)
    assert main(["study", "run", str(spec_path)]) == 0
    out = tmp_path / "quick"
    cells = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    expected = {f"{f}-dense" for f in ("ostrack", "siamrpn")} | {
        f"{f}-{m}-{b}pct" for f in ("ostrack", "siamrpn") for m in ("gates", "uniform", "search") for b in ("50", "1")}
    assert set(cells) == expected
    for key, cell in cells.items():
        if cell["method"] == "dense":
            assert cell["reached"] == pytest.approx(1.0)
            continue
        assert 0 < cell["ao"] <= 1 and cell["latency_ms"] > 0 and cell["params"] > 0
        low, high = cell["ao_ci"]
        assert low <= cell["ao"] <= high and len(cell["iou_sums"]) == len(cell["frame_counts"]) > 0
        # a child never exceeds its budget, unless the budget is below what the method can reach
        assert cell["floor"] or cell["reached"] <= cell["budget"] + 1e-9, key
    assert all(cells[f"{f}-{m}-1pct"]["floor"] for f in ("ostrack", "siamrpn") for m in ("uniform", "search"))
    report = (out / "report.md").read_text()
    assert "| ostrack | 50 % | learned gates (paper) |" in report and "retention" in report and "AO 95 % CI" in report
    for png in ("ao_vs_budget.png", "latency_vs_macs.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A re-run finds every cell done and only rewrites the report.
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert main(["study", "run", str(spec_path)]) == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert main(["study", "report", str(spec_path)]) == 0
    assert main(["study", "report", str(spec_path), "--remeasure-latency"]) == 0
    remeasured = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    assert all(c["latency_ms"] > 0 for c in remeasured.values())
    assert {k: c["ao"] for k, c in remeasured.items()} == {k: c["ao"] for k, c in cells.items()}


@pytest.mark.parametrize("mutation,message", [
    (lambda s: s.replace("budgets: [0.5, 0.01]", "budgets: [1.5]"), "budgets must be a non-empty list of fractions in (0, 1)"),
    (lambda s: s.replace("seed: 0", "seed: 0\nbudget: 3"), "unknown key(s) budget in the top level"),
    (lambda s: s.replace("ostrack: {preset: tiny}", "vit: {preset: tiny}"), "families.vit must be one of"),
    (lambda s: s.replace("ostrack: {preset: tiny}", "ostrack: {preset: huge}"), "unknown preset 'huge'"),
    (lambda s: s.replace("uniform: {}", "uniform: {importance: l1, steps: 3}"), "unknown key(s) steps in methods.uniform"),
    (lambda s: s.replace("uniform: {}", "magic: {}"), "methods.magic must be one of"),
    (lambda s: s.replace("finetune_steps: 2", "finetune_steps: -1"), "finetune_steps must be an integer >= 0"),
    (lambda s: s + "\n  - [", "not valid YAML"),
])
def test_bad_spec_is_one_clear_error(tmp_path, mutation, message):
    path = tmp_path / "bad.yaml"
    path.write_text(mutation(QUICK))
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert message in str(err.value) and "bad.yaml" in str(err.value)


def test_study_cli_errors_write_nothing(tmp_path, capsys):
    assert main(["study", "run", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    spec = tmp_path / "quick.yaml"
    spec.write_text(QUICK)
    assert main(["study", "report", str(spec)]) == 2
    assert "no finished cells" in capsys.readouterr().err
    assert not (tmp_path / "quick").exists()


def test_shipped_study_spec_is_valid():
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[1] / "studies" / "paper-stability.yaml")
    assert [f.name for f in spec.families] == ["siamrpn", "ostrack", "stark"]
    assert spec.budgets == [0.75, 0.5, 0.25, 0.1, 0.01] and set(spec.methods) == {"gates", "uniform", "search"}
