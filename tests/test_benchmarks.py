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
