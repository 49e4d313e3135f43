"""The study's statistics: retention intervals over sequences and seeds, paired differences,
and conclusions that call only CI-separated differences (cell records built directly)."""
from __future__ import annotations

import numpy as np

from autoprune.study.report import Tables, conclusions
from autoprune.study.run import Cell
from autoprune.study.spec import parse_spec
from autoprune.study.stats import Bootstrap, Scores, separated


def _cell(family, method, budget, seed, per_sequence_ao, *, reached=None):
    counts = [50] * len(per_sequence_ao)
    sums = [a * n for a, n in zip(per_sequence_ao, counts)]
    ao = sum(sums) / sum(counts)
    return Cell(family=family, method=method, budget=budget, reached=reached or (budget or 1.0), floor=False, frame_macs=1e6,
                init_macs=1e5, params=1000, latency_ms=1.0, ao=ao, sr50=ao, sr75=ao, fps=100.0, note="", seconds=1.0, arch={},
                iou_sums=sums, frame_counts=counts, seed=seed)


def _spec(families=("siamrpn", "ostrack")):
    return parse_spec({"name": "t", "budgets": [0.5, 0.01], "seeds": 3, "families": {f: {} for f in families},
                       "methods": {"uniform": {}, "gates": {}}}, source=__import__("pathlib").Path("/tmp/t.yaml"))


def _study(rng, gap):
    """siamrpn keeps its AO, ostrack loses ``gap`` of it; sequences vary a lot, seeds a little."""
    base = rng.uniform(0.2, 0.8, size=40)
    cells = []
    for seed in range(3):
        for fam, loss in (("siamrpn", 0.0), ("ostrack", gap)):
            cells.append(_cell(fam, "dense", None, seed, base + rng.normal(0, 0.01, 40)))
            for method in ("uniform", "gates"):
                for budget in (0.5, 0.01):
                    cells.append(_cell(fam, method, budget, seed, base * (1 - loss) + rng.normal(0, 0.01, 40)))
    return cells


def test_a_large_gap_is_separated_and_named_in_the_conclusions():
    tables = Tables(_spec(), _study(np.random.default_rng(0), gap=0.4))
    r = tables.retention[("ostrack", "uniform", 0.01)]
    assert 0.55 < r.value < 0.65 and r.low < r.value < r.high
    fam = {(m, b, a, c): iv for m, b, a, c, iv in tables.family_differences()}
    assert separated(fam[("uniform", 0.01, "siamrpn", "ostrack")]) and fam[("uniform", 0.01, "siamrpn", "ostrack")].value > 0.3
    # the two methods cut the same: never separated
    assert not any(separated(iv) for *_, iv in tables.method_differences())
    text = "\n".join(conclusions(tables))
    assert "siamrpn retains more at 50 %, 1 %" in text and "not separated at 50 %, 1 %" in text
    assert "Every cell is within 10 % of its budget." in text


def test_no_gap_is_not_called():
    tables = Tables(_spec(), _study(np.random.default_rng(1), gap=0.0))
    assert not any(separated(iv) for *_, iv in tables.family_differences() + tables.method_differences())
    assert "retains more" not in "\n".join(conclusions(tables))


def test_pairing_removes_what_sequences_share():
    """A 3 % gap on every sequence is resolved when paired, though each AO's own interval is wide."""
    rng = np.random.default_rng(2)
    base = rng.uniform(0.1, 0.9, size=30)
    dense = Scores.of([_cell("f", "dense", None, s, base) for s in range(2)])
    a = Scores.of([_cell("f", "a", 0.5, s, base) for s in range(2)])
    b = Scores.of([_cell("f", "b", 0.5, s, base * 0.97) for s in range(2)])
    boot = Bootstrap(30, 2)
    assert boot.ao(a).high - boot.ao(a).low > 0.1
    diff = boot.difference((a, dense), (b, dense))
    assert separated(diff) and abs(diff.value - 0.03) < 1e-9


def test_off_budget_cells_are_flagged():
    cells = _study(np.random.default_rng(3), gap=0.0)
    cells[1] = _cell("siamrpn", "uniform", 0.5, 0, [0.5] * 40, reached=0.3)
    tables = Tables(_spec(), cells)
    assert [c.key for c in tables.off_budget()] == ["siamrpn-uniform-50pct-s0"]
    assert "1 cell(s) are not within 10 % of their budget" in "\n".join(conclusions(tables))
