"""`autoprune profile`: the per-block table and its JSON, for presets and for exports."""
from __future__ import annotations

import json

import trackers
from autoprune.cli import main
from autoprune.export import export_model


def test_profile_json_matches_the_analytic_cost(capsys):
    assert main(["profile", "--tracker", "siamrpn", "--preset", "tiny", "--no-latency", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = trackers.get("siamrpn").analytic_cost(trackers.get("siamrpn").arch("tiny"))
    assert data["frame_macs"] == expected["frame_macs"] and data["init_macs"] == expected["init_macs"]
    assert data["params"] == expected["params"] and data["breakdown"]


def test_profile_of_an_export_with_latency(tmp_path, capsys):
    family = trackers.get("siamrpn")
    out = export_model(family, family.create("tiny").eval(), tmp_path / "e")
    assert main(["profile", "--export", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "FLOPs" in text or "MACs" in text
