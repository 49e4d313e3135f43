"""Exports (reload, ONNX parity, tamper and overwrite refusal) and the dashboard on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import autoprune
import trackers
from autoprune.errors import ExportError
from autoprune.export import export_model, load_model
from autoprune.export.writer import ONNX_MAX_REL_DIFF, relative_difference
from autoprune.pipeline import search
from autoprune.run.settings import SearchSettings


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("search")
    s = SearchSettings.from_options(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=2, proxy_steps=2,
                                    proxy_sequences=1, parent_steps=4, validate_steps=2, validate_max=1, validate_sequences=4, runs_dir=str(tmp / "runs"),
                                    command="autoprune search (test)")
    return Path(search(s, progress=False)["run_dir"])


def _outputs(model, family):
    z, x = family.example_inputs(model.arch)
    with torch.no_grad():
        return model(z, x)


def test_export_reloads_with_identical_outputs_and_tracks(run_dir):
    export = run_dir / "export" / "best"
    family, model = load_model(export)
    from autoprune.checkpoint import read_state_dict

    child = family.build(model.arch)
    child.load_state_dict(read_state_dict(run_dir / "children" / f"trial-{json.loads((export / 'arch.json').read_text())['trial']}" / "model.safetensors"))
    child.eval()
    a, b = _outputs(model, family), _outputs(child, family)
    assert all(torch.equal(a[k], b[k]) for k in a)
    tracker = autoprune.load(export)
    image = np.full((120, 160, 3), 90, np.uint8)
    image[40:70, 50:90] = 200
    tracker.init(image, (50, 40, 40, 30))
    box = tracker.update(image)
    assert np.isfinite(box).all() and box[2] > 0
    card = (export / "card.md").read_text()
    assert "FLOPs (MACs)" in card and "autoprune search (test)" in card
    assert "parent: siamrpn/tiny" in card and "parent: parent:" not in card


def test_onnx_export_matches_onnxruntime(tmp_path):
    family = trackers.get("siamrpn")
    model = family.create("tiny").eval()
    out = export_model(family, model, tmp_path / "onnx", onnx=True)
    manifest = json.loads((out / "arch.json").read_text())
    assert (out / "model.onnx").stat().st_size > 0
    # Relative to each output's scale: a random model's outputs run to hundreds, where float32
    # summed in another order differs by 1e-3 and more.
    assert manifest["onnx_max_rel_diff"] <= ONNX_MAX_REL_DIFF
    assert manifest["onnx_max_abs_diff"] >= 0.0
    assert "of their scale" in (out / "card.md").read_text()


def test_onnx_difference_is_relative_to_the_output_scale():
    ref = np.array([[300.0, -1200.0], [0.5, 2.0]], np.float32)
    assert relative_difference(ref + np.float32(0.06), ref) == pytest.approx(0.06 / 1200, rel=1e-3)
    small = ref.astype(np.float64) * 1e-6  # the same differences on a tiny output are as large relative to it
    assert relative_difference(small + 1e-9, small) == pytest.approx(1e-9 / 1.2e-3, rel=1e-6)
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_difference(ref + np.float32(1.0), ref) > ONNX_MAX_REL_DIFF  # an off graph is caught


def test_tampered_weights_refused_and_overwrite_needs_force(tmp_path):
    family = trackers.get("siamrpn")
    model = family.create("tiny").eval()
    out = export_model(family, model, tmp_path / "e")
    with pytest.raises(ExportError, match="exists"):
        export_model(family, model, tmp_path / "e")
    export_model(family, model, tmp_path / "e", force=True)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="SHA-256"):
        load_model(out)
    manifest = json.loads((out / "arch.json").read_text())
    manifest["format_version"] = 99
    (out / "arch.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="newer"):
        load_model(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_study_on_loopback(run_dir):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "autoprune.cli", "dashboard", str(run_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        body = None
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "dashboard did not answer"
        names = [s["study_name"] for s in body["study_summaries"]]
        assert run_dir.name in names
        study_id = next(s["study_id"] for s in body["study_summaries"] if s["study_name"] == run_dir.name)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0", timeout=5) as r:
            detail = json.loads(r.read())
        attrs = {a["key"] for t in detail["trials"] for a in t["user_attrs"]}
        assert {"proxy_ao", "frame_mflops", "params_m"} <= attrs
        assert any(t.get("constraints") for t in detail["trials"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_evaluate_and_profile_work_on_an_export(run_dir, capsys):
    from autoprune.cli import main

    export = run_dir / "export" / "best"
    assert main(["evaluate", str(export), "--max-sequences", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= metrics["ao"] <= 1
    assert main(["profile", "--export", str(export), "--no-latency", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frame_macs"] <= 25e6
