"""The benchmark harness in --quick mode: every benchmark runs and writes its result files."""
import json

import pytest

from benchmarks._harness import _main
from benchmarks.suite import BENCHMARKS


# Quick mode still runs real searches here: kept out of the default run.
SEARCHING = {"latency_budget"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SEARCHING else n for n in sorted(BENCHMARKS)])
def test_quick_benchmark_writes_markdown_and_json(name, tmp_path, capsys):
    assert _main(["--quick", "--out", str(tmp_path), name]) == 0
    result = json.loads((tmp_path / f"{name}.json").read_text())
    assert result["quick"] is True and result["rows"] and result["command"].endswith(name)
    markdown = (tmp_path / f"{name}.md").read_text()
    assert markdown.startswith("# ") and "quick mode" in markdown
    for goal in result.get("goals", []):
        assert ("**met**" if goal["met"] else "**missed**") in markdown


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        _main(["no-such-benchmark"])
    assert exit_.value.code == 2 and "valid:" in capsys.readouterr().err


def test_search_quality_runs_the_methods_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_QUALITY_METHODS", "uniform")
    assert _main(["--quick", "--out", str(tmp_path), "search_quality"]) == 0
    result = json.loads((tmp_path / "search_quality.json").read_text())
    (ran,) = result["per_seed_ao"].values()
    assert len(ran["uniform"]) == 1 and all(not ran[m] for m in ran if m != "uniform")
    assert "uniform" in result["rows"][0] and "search" not in result["rows"][0]


def test_search_quality_refuses_an_unknown_method(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_QUALITY_METHODS", "uniform,bogus")
    with pytest.raises(SystemExit, match="unknown method bogus; valid: search"):
        _main(["--quick", "--out", str(tmp_path), "search_quality"])
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_search_quality_refuses_an_unknown_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_QUALITY_SEEDS", "0,7")
    with pytest.raises(SystemExit, match="unknown seed 7; valid: 0"):
        _main(["--quick", "--out", str(tmp_path), "search_quality"])
    assert not list(tmp_path.iterdir())


def test_kept_link_moves_an_older_cache_into_the_store(tmp_path):
    from benchmarks._kept import link_kept

    cells, kept = tmp_path / "work" / "seed-0" / "cells", tmp_path / "kept"
    cells.mkdir(parents=True)
    kept.mkdir()
    (cells / "a.json").write_text("{}")
    link_kept(cells, kept)
    assert cells.is_symlink() and (kept / "a.json").is_file()
    (cells / "b.json").write_text("{}")  # written through the link: lands in the store
    assert (kept / "b.json").is_file()
    assert link_kept(cells, kept) == cells  # a second run keeps the link


def test_search_quality_reports_kept_cells_and_carries_over_families_without_them(tmp_path, monkeypatch):
    """A report from the store alone (no search run): the kept family's cells, and an earlier run's
    rows of a family whose cells the store lacks, marked as carried over."""
    import benchmarks._harness
    from benchmarks import quality

    # one real cell: ostrack's uniform child at 10 %, fine-tuned and validated at quick scale
    work = tmp_path / "made"
    (cell,) = [c for c in quality._seed_cells(0, True, str(work), {"ostrack": "tiny"}, [0.1], "cpu", ("uniform",))
               if c["method"] == "uniform"]
    monkeypatch.setenv("AUTOPRUNE_BENCH_KEPT", str(tmp_path / "kept"))
    monkeypatch.setenv("AUTOPRUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEARCH_QUALITY_FAMILIES", "ostrack")
    monkeypatch.setenv("SEARCH_QUALITY_METHODS", "uniform")
    monkeypatch.setenv("SEARCH_QUALITY_FINISHED_ONLY", "1")
    kept = quality._kept_cells_dir("ostrack", "tiny", 0)
    for made in (work / "seed-0" / "cells").glob("*.json"):
        (kept / made.name).write_text(made.read_text())
    previous = {"rows": [{"family": "siamrpn/small", "budget": "10%", "uniform": "0.271"}],
                "goals": [{"text": "siamrpn at 10%: search ≥ +10 % relative AO over uniform", "measured": "x", "met": False}],
                "per_seed_ao": {"siamrpn/small 10%": {"uniform": [0.27, 0.28, 0.26]}}, "paired": {},
                "seconds_per_cell": {"siamrpn": {"uniform": 100.0}}, "notes": [], "quick": False,
                "finetune_version": quality.FINETUNE_VERSION, "parent_flags": quality.PARENT_FLAGS}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "search_quality.json").write_text(json.dumps(previous))
    monkeypatch.setattr(benchmarks._harness, "RESULTS", tmp_path / "results")
    result = quality.search_quality(quick=False)
    families = [r["family"] for r in result["rows"]]
    assert "ostrack/tiny" in families and "siamrpn/small" in families
    ostrack = next(r for r in result["rows"] if r["family"] == "ostrack/tiny" and r["budget"] == "10%")
    assert ostrack["uniform"].startswith(f"{cell['ao']:.3f}") and "[1 of 3 seeds]" in ostrack["uniform"]
    assert result["carried_over"] == ["siamrpn/small"]
    assert next(r for r in result["rows"] if r["family"] == "siamrpn/small")["carried_over"] is True
    assert any("Carried over" in n and "siamrpn/small" in n for n in result["notes"])
    assert not any(n.startswith("Not measured") and "siamrpn" in n for n in result["notes"])
    # the report of every family (no SEARCH_QUALITY_FAMILIES): a family with no kept cells gets
    # no empty rows, and the carried family keeps its rows
    monkeypatch.delenv("SEARCH_QUALITY_FAMILIES")
    everything = quality.search_quality(quick=False)
    assert sorted({r["family"] for r in everything["rows"]}) == ["ostrack/tiny", "siamrpn/small"]
    assert everything["carried_over"] == ["siamrpn/small"]
    # a previous file of another fine-tune version is not carried
    (tmp_path / "results" / "search_quality.json").write_text(json.dumps({**previous, "finetune_version": -1}))
    assert "carried_over" not in quality.search_quality(quick=False)
    # nor one whose searched children got another fine-tune than uniform's (their parent's flags lost)
    (tmp_path / "results" / "search_quality.json").write_text(json.dumps({k: v for k, v in previous.items() if k != "parent_flags"}))
    assert "carried_over" not in quality.search_quality(quick=False)


def test_proxy_fidelity_scores_children_in_a_pool_of_processes(tmp_path, monkeypatch):
    """The children's ground truths run in worker processes and land where the report reads them."""
    monkeypatch.setenv("PROXY_FIDELITY_WORKERS", "2")
    assert _main(["--quick", "--out", str(tmp_path), "proxy_fidelity_ostrack"]) == 0
    result = json.loads((tmp_path / "proxy_fidelity_ostrack.json").read_text())
    assert len(result["rows"]) == 3
    for row in result["rows"]:
        assert 0 <= row["full AO seed 0"] <= 1 and 0 <= row["full AO seed 1"] <= 1
        assert row["full AO"] == (row["full AO seed 0"] + row["full AO seed 1"]) / 2
