"""`autoprune study`: a whole (tiny) study run for real, resumed, reported; bad specs refused."""
import json
import re

import pytest

from autoprune.cli import main
from autoprune.errors import ConfigError
from autoprune.study import load_spec

QUICK = """
name: quick
data: builtin
seed: 0
seeds: 2
budgets: [0.5, 0.01]
finetune_steps: 1
batch_size: 2
max_sequences: 3
families:
  ostrack: {preset: tiny}
  siamrpn: {preset: tiny, parent_steps: 2}
methods:
  gates: {steps: 1, layerwise_at_or_below: 0.01}
  uniform: {}
  search: {trials: 2, proxy_steps: 1, proxy_sequences: 1, sampler: random}
"""

FAMILIES, METHODS, BUDGETS, SEEDS = ("ostrack", "siamrpn"), ("gates", "uniform", "search"), ("50", "1"), (0, 1)


def _cells(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}


def _check_report(out):
    report = (out / "report.md").read_text()
    # retention with its interval for every (family, budget, method) cell, over both seeds
    for f in FAMILIES:
        for b in BUDGETS:
            for m in ("learned gates (paper)", "uniform", "autoprune search"):
                row = next(line for line in report.splitlines() if line.startswith(f"| {f} | {b} %") and f"| {m} |" in line)
                assert re.search(r"\| \d+ % \| \d+-\d+ % \|", row) and row.endswith("| 2 |"), row
    assert "## Paired differences between families" in report and "## Paired differences between methods" in report
    assert re.search(r"\| uniform \| 1 % \| ostrack - siamrpn \| [+-]\d+\.\d pp \[[+-]\d+\.\d, [+-]\d+\.\d\] \| (yes|no) \|", report)
    assert re.search(r"\| siamrpn \| 50 % \| learned gates \(paper\) - uniform \| [+-]\d+\.\d pp", report)
    conclusions = report.split("## Conclusions")[1].split("## Plots")[0]
    assert "paired differences are CI-separated" in conclusions and "vs" in conclusions
    assert "not separated" in conclusions or "retains more" in conclusions
    assert "![retention_vs_budget](retention_vs_budget.png)" in report
    for png in ("retention_vs_budget.png", "ao_vs_budget.png", "latency_vs_macs.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return report


@pytest.mark.slow
def test_quick_study_runs_resumes_and_reports(tmp_path, capsys):
    spec_path = tmp_path / "quick.yaml"
    spec_path.write_text(QUICK)
    assert main(["study", "run", str(spec_path)]) == 0
    out = tmp_path / "quick"
    cells = _cells(out)
    expected = {f"{f}-dense-s{s}" for f in FAMILIES for s in SEEDS} | {
        f"{f}-{m}-{b}pct-s{s}" for f in FAMILIES for m in METHODS for b in BUDGETS for s in SEEDS}
    assert set(cells) == expected
    for key, cell in cells.items():
        assert cell["seed"] == int(key[-1]) and cell["parent"]
        if cell["method"] == "dense":
            assert cell["reached"] == pytest.approx(1.0)
            continue
        assert 0 <= cell["ao"] <= 1 and cell["latency_ms"] > 0 and cell["params"] > 0 and cell["fps"] > 0
        low, high = cell["ao_ci"]
        assert low <= cell["ao"] <= high and len(cell["iou_sums"]) == len(cell["frame_counts"]) == 3
        assert cell["reached"] <= cell["budget"] * 1.1 + 1e-9, key
    # uniform and the search reach 1 % now, not a floor; uniform within 10 % of it, at smaller crops
    for f in FAMILIES:
        for s in SEEDS:
            uni = cells[f"{f}-uniform-1pct-s{s}"]
            assert not uni["floor"] and 0.009 <= uni["reached"] <= 0.01 and uni["crop_scale"] < 1, uni["note"]
            assert not cells[f"{f}-search-1pct-s{s}"]["floor"]
    report = _check_report(out)

    # A re-run finds every cell done, recomputes nothing and only rewrites the report.
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    capsys.readouterr()
    assert main(["study", "run", str(spec_path)]) == 0
    assert "fine-tune" not in capsys.readouterr().err
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert runs_before == sorted(p.name for p in (out / "runs").iterdir())
    assert main(["study", "report", str(spec_path)]) == 0
    assert (out / "report.md").read_text().split("## Dense parents")[1] == report.split("## Dense parents")[1]
    assert main(["study", "report", str(spec_path), "--remeasure-latency"]) == 0
    remeasured = _cells(out)
    assert all(c["latency_ms"] > 0 for c in remeasured.values())
    assert {k: c["ao"] for k, c in remeasured.items()} == {k: c["ao"] for k, c in cells.items()}

    # one more seed runs only that seed's cells
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    spec_path.write_text(QUICK.replace("seeds: 2", "seeds: [0, 1, 2]").replace("  search:", "  #search:"))
    assert main(["study", "run", str(spec_path)]) == 0
    added = set(_cells(out)) - set(cells)
    assert added == {f"{f}-dense-s2" for f in FAMILIES} | {f"{f}-{m}-{b}pct-s2" for f in FAMILIES for m in ("gates", "uniform") for b in BUDGETS}
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json") if p.name in before}


def test_one_family_study_with_uniform_only_is_fast(tmp_path):
    """The fast variant: one family, uniform only, one step; still real children and a real report."""
    spec_path = tmp_path / "fast.yaml"
    spec_path.write_text("""
name: fast
seeds: 2
budgets: [0.5, 0.01]
finetune_steps: 1
batch_size: 2
max_sequences: 2
families:
  ostrack: {preset: tiny}
methods:
  uniform: {}
""")
    assert main(["study", "run", str(spec_path)]) == 0
    out = tmp_path / "fast"
    cells = _cells(out)
    assert set(cells) == {"ostrack-dense-s0", "ostrack-dense-s1"} | {f"ostrack-uniform-{b}pct-s{s}" for b in BUDGETS for s in SEEDS}
    assert all(0.9 * c["budget"] <= c["reached"] <= c["budget"] for c in cells.values() if c["budget"])
    report = (out / "report.md").read_text()
    assert "| ostrack | 1 % | uniform |" in report and "## Conclusions" in report and "Every cell is within 10 %" in report
    assert (out / "retention_vs_budget.png").read_bytes()[:4] == b"\x89PNG"
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert main(["study", "run", str(spec_path)]) == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}


def _run_uniform_study(tmp_path, name: str, extra: str = ""):
    """(spec path, study) of a one-seed ostrack/tiny uniform study at 50 %, run (no fine-tune, one sequence)."""
    from autoprune.study import Study

    spec_path = tmp_path / "fast.yaml"
    spec_path.write_text(f"name: {name}\nseeds: 1\nbudgets: [0.5]\nfinetune_steps: 0\nmax_sequences: 1\n{extra}"
                         "families:\n  ostrack: {preset: tiny}\nmethods:\n  uniform: {}\n")
    study = Study(load_spec(spec_path), progress=False)
    study.run()
    return spec_path, study


def test_cells_of_another_parent_are_made_again(tmp_path):
    from autoprune.study import Study

    spec_path, study = _run_uniform_study(tmp_path, "p")
    assert [c.key for c in study.cells()] == ["ostrack-dense-s0", "ostrack-uniform-50pct-s0"]
    spec_path.write_text(spec_path.read_text().replace("{preset: tiny}", "{preset: tiny, parent_steps: 3}"))
    other = Study(load_spec(spec_path), progress=False)
    assert other.cells() == [] and other._done("ostrack-dense-s0") is False  # stale: cut from another parent


def test_a_study_without_the_dense_parent_makes_only_its_children(tmp_path):
    """dense: false leaves the seed's dense cell to another run of that seed (which shares its cells)."""
    _, study = _run_uniform_study(tmp_path, "d", "dense: false\n")
    assert [c.key for c in study.cells()] == ["ostrack-uniform-50pct-s0"]
    assert sorted(p.stem for p in (tmp_path / "d" / "cells").glob("*.json")) == ["ostrack-uniform-50pct-s0"]


def test_the_same_child_gets_the_same_cell_from_the_search_and_from_uniform(tmp_path, monkeypatch):
    """A search whose answer is the uniform shape must score what uniform scores: the same
    weights after the same fine-tune. (The search loads the parent from a file, uniform cuts the
    one in memory: a training flag lost on the way gave the search's children another fine-tune.)"""
    import torch

    import autoprune.proxy as proxy
    from autoprune.study import Study

    real, tuned = proxy.finetune_child, {}

    def recording(family, child, **kw):  # the real fine-tune; its result kept for comparison
        out = real(family, child, **kw)
        tuned[kw.get("description", "")] = {k: v.clone() for k, v in child.state_dict().items()}
        return out

    monkeypatch.setattr(proxy, "finetune_child", recording)
    spec_path = tmp_path / "same.yaml"
    spec_path.write_text("name: same\nseeds: 1\nbudgets: [0.1]\nfinetune_steps: 3\nbatch_size: 2\nmax_sequences: 1\n"
                         "dense: false\nfamilies:\n  ostrack: {preset: tiny}\nmethods:\n"
                         "  search: {trials: 1, proxy_steps: 1, proxy_sequences: 1, sampler: tpe}\n  uniform: {importance: l1}\n")
    study = Study(load_spec(spec_path), progress=False)
    study.run()
    search, uniform = (next(c for c in study.cells() if c.method == m) for m in ("search", "uniform"))
    assert search.arch == uniform.arch  # the search's first trial is the uniform shape
    a, b = tuned["fine-tune ostrack search 10 % seed 0"], tuned["fine-tune ostrack uniform 10 % seed 0"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert search.ao == uniform.ao


def test_cells_of_other_method_settings_are_made_again(tmp_path):
    from autoprune.study import Study

    spec_path = tmp_path / "fast.yaml"
    spec_path.write_text("name: m\nseeds: 1\nbudgets: [0.5]\nfinetune_steps: 0\nmax_sequences: 1\n"
                         "families:\n  ostrack: {preset: tiny}\nmethods:\n  uniform: {importance: l1}\n"
                         "  distill-loss: {trials: 1, proxy_steps: 1, sampler: random}\n")
    study = Study(load_spec(spec_path), progress=False)
    study.run()
    cell = next(c for c in study.cells() if c.method == "distill-loss")
    assert "distill-loss proxy 1 steps" in cell.note and 0.9 * 0.5 <= cell.reached <= 0.5
    spec_path.write_text(spec_path.read_text().replace("proxy_steps: 1", "proxy_steps: 2"))
    other = Study(load_spec(spec_path), progress=False)
    # the uniform cells and the dense one stand; the search's settings changed, so its cell is stale
    assert [c.key for c in other.cells()] == ["ostrack-dense-s0", "ostrack-uniform-50pct-s0"]


@pytest.mark.parametrize("mutation,message", [
    (lambda s: s.replace("budgets: [0.5, 0.01]", "budgets: [1.5]"), "budgets must be a non-empty list of fractions in (0, 1)"),
    (lambda s: s.replace("seed: 0", "seed: 0\nbudget: 3"), "unknown key(s) budget in the top level"),
    (lambda s: s.replace("ostrack: {preset: tiny}", "vit: {preset: tiny}"), "families.vit must be one of"),
    (lambda s: s.replace("ostrack: {preset: tiny}", "ostrack: {preset: huge}"), "unknown preset 'huge'"),
    (lambda s: s.replace("uniform: {}", "uniform: {importance: l1, steps: 3}"), "unknown key(s) steps in methods.uniform"),
    (lambda s: s.replace("uniform: {}", "magic: {}"), "methods.magic must be one of"),
    # the one-shot search has no fine-tune proxy steps to set
    (lambda s: s.replace("uniform: {}", "oneshot: {proxy_steps: 3}"), "unknown key(s) proxy_steps in methods.oneshot"),
    (lambda s: s.replace("finetune_steps: 1", "finetune_steps: -1"), "finetune_steps must be an integer >= 0"),
    (lambda s: s + "\n  - [", "not valid YAML"),
    (lambda s: s.replace("seeds: 2", "seeds: 0"), "seeds must be an integer >= 1"),
    (lambda s: s.replace("seeds: 2", "seeds: 2\ndense: no-thanks"), "dense must be true or false"),
    (lambda s: s.replace("seeds: 2", "seeds: [1, 1]"), "seeds must be a count >= 1 or a list of distinct integers"),
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


def test_shipped_study_specs_are_valid_and_differ_only_in_parents_and_data():
    from dataclasses import asdict
    from pathlib import Path

    cpu = load_spec(Path(__file__).parents[1] / "studies" / "paper-stability.yaml")
    gpu = load_spec(Path(__file__).parents[1] / "studies" / "paper-stability-gpu.yaml")
    assert [(f.name, f.preset, f.checkpoint) for f in cpu.families] == [
        ("siamrpn", "small", None), ("ostrack", "tiny", None), ("stark", "small", None)]
    assert cpu.budgets == [0.75, 0.5, 0.25, 0.1, 0.01] and set(cpu.methods) == {"gates", "uniform", "search"}
    assert cpu.seeds == [0, 1, 2] and cpu.builtin and cpu.max_sequences is None
    assert [(f.name, f.preset) for f in gpu.families] == [("siamrpn", "r50"), ("ostrack", "vitb-256-ce"), ("stark", "s50")]
    assert all(f.checkpoint for f in gpu.families) and not gpu.builtin
    same = {k for k in asdict(cpu) if k not in ("name", "description", "data", "families", "out", "source")}
    assert {k: asdict(cpu)[k] for k in same} == {k: asdict(gpu)[k] for k in same}
