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


def test_profile_re_measures_an_export_on_onnx_runtime(tmp_path, capsys):
    family = trackers.get("siamrpn")
    out = export_model(family, family.create("tiny").eval(), tmp_path / "e", onnx=True)
    assert main(["profile", "--export", str(out), "--runtime", "onnx", "--json"]) == 0
    onnx = json.loads(capsys.readouterr().out)
    assert main(["profile", "--export", str(out), "--json"]) == 0
    eager = json.loads(capsys.readouterr().out)
    assert (onnx["runtime"], eager["runtime"]) == ("onnx", "torch")
    assert 0 < onnx["latency_ms"] and 0 < eager["latency_ms"] and onnx["frame_macs"] == eager["frame_macs"]
