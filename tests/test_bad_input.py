"""Bad input through the command line: one line naming the problem and the fix, exit 2, nothing written.

Random search-space edits, groundtruth lines and checkpoint bytes must give a clean
ConfigError / DataError / CheckpointError, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackers
from autoprune.checkpoint import read_state_dict
from autoprune.cli import main
from autoprune.data import open_split
from autoprune.errors import CheckpointError, ConfigError, DataError
from autoprune.prune.space import bind, load_space
from trackers.siamrpn import pruning
from trackers.siamrpn.presets import SMALL

SEARCH = ["search", "--tracker", "siamrpn", "--preset", "tiny", "--parent-steps", "4", "--trials", "1",
          "--validate-max", "0", "--workers", "1"]
PROFILE = ["profile", "--tracker", "siamrpn", "--preset", "tiny", "--no-latency"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and the one error line (a progress bar's last state may precede it)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, lines
    assert all(line in errors or " elapsed" in line for line in lines), lines
    return code, errors[0]


# --- search: budgets, names, search-space files -------------------------------------------

@pytest.mark.parametrize("extra, expected", [
    (["--budget-mflops", "0"], ["--budget-mflops must be a positive number", "e.g. --budget-mflops 50"]),
    (["--budget-mflops", "-5"], ["--budget-mflops must be a positive number", "got -5"]),
    (["--budget-ms", "nan"], ["--budget-ms must be a positive number"]),
    (["--budget-mflops", "fifty"], ["--budget-mflops", "expected a number, got 'fifty'"]),
    (["--budget-mflops", "0.01"], ["budget 0.01 M FLOPs (MACs) is below the smallest child", "(0.3 M FLOPs (MACs))",
                                   "raise the budget"]),
    (["--budget-mflops", "60"], ["budget 60 M FLOPs (MACs) is not below the parent's 51.0 M FLOPs", "choose a budget under 51.0"]),
    (["--budget-mflops", "25", "--budget-ms", "3"], ["give one budget: --budget-mflops or --budget-ms, not both"]),
    ([], ["give a budget: --budget-mflops"]),
    (["--budget-mflops", "25", "--sampler", "annealing"], ["invalid choice: 'annealing'", "'tpe', 'nsga2', 'random', 'uniform'"]),
    (["--budget-mflops", "25", "--preset", "huge"], ["unknown preset 'huge'", "valid presets: r50, small, tiny"]),
    (["--budget-mflops", "25", "--tracker", "kcf"], ["unknown tracker 'kcf'", "valid trackers: ostrack, siamrpn, stark"]),
    (["--budget-mflops", "25", "--data", "/nonexistent/data"], ["dataset root /nonexistent/data does not exist"]),
    (["--budget-mflops", "25", "--min-budget-share", "0"], ["--min-budget-share must be in (0, 1], got 0"]),
    (["--budget-mflops", "25", "--proxy", "guess"], ["invalid choice: 'guess'", "'finetune', 'distill-loss', 'oneshot'"]),
])
def test_search_bad_input_is_one_line_and_writes_no_run(tmp_path, capsys, extra, expected):
    runs = tmp_path / "runs"
    code, line = cli(capsys, *SEARCH, "--runs-dir", str(runs), *extra)
    assert code == 2
    for fragment in expected:
        assert fragment in line
    assert not runs.exists()


@pytest.mark.parametrize("text, expected", [
    ("family: siamrpn\nknobs:\n  - {name: a, groups: [stem], keep: [0.5, 2]}\n",
     "knobs[0] (a).keep: expected [low, high] with 0 < low <= high <= 1 (got [0.5, 2])"),
    ("family: siamrpn\nknobs:\n  - {name: a, groups: [stem], kep: [0.5, 1]}\n", "knobs[0].kep: unknown key; expected one of"),
    ("family: siamrpn\nknobs: [unclosed\n", "not valid YAML"),
    ("family: siamrpn\nknobs:\n  - {name: a, groups: [nothing.*], keep: [0.5, 1]}\n", "match no group"),
    ("family: ostrack\nknobs:\n  - {name: a, groups: [stem], keep: [0.5, 1]}\n", "is for 'ostrack', not 'siamrpn'"),
])
def test_search_with_an_invalid_space_file_names_file_key_and_form(tmp_path, capsys, text, expected):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    runs = tmp_path / "runs"
    code, line = cli(capsys, *SEARCH, "--runs-dir", str(runs), "--budget-mflops", "25", "--space", str(space))
    assert code == 2 and str(space) in line and expected in line
    assert not runs.exists()
    code, line = cli(capsys, *SEARCH, "--runs-dir", str(runs), "--budget-mflops", "25", "--space", str(tmp_path / "no.yaml"))
    assert code == 2 and "no.yaml: no such file" in line


_BUILTIN_SPACE = Path(__file__).resolve().parents[1] / "trackers" / "siamrpn" / "space.yaml"
_mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 4000), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 4000), st.text(alphabet=":-[]{},#&*!|>'\" \n\tx0.5-1", min_size=1, max_size=8)),
    st.tuples(st.just("line"), st.integers(0, 40), st.text(max_size=30)),
)


def _mutate(text: str, mutations) -> str:
    for kind, where, what in mutations:
        if kind == "delete":
            at = where % (len(text) + 1)
            text = text[:at] + text[at + what:]
        elif kind == "insert":
            at = where % (len(text) + 1)
            text = text[:at] + what + text[at:]
        else:
            lines = text.splitlines()
            lines[where % len(lines)] = what
            text = "\n".join(lines)
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(_mutation, min_size=1, max_size=4))
def test_random_edits_of_a_space_file_load_or_give_a_config_error(tmp_path, mutations):
    path = tmp_path / "space.yaml"
    path.write_text(_mutate(_BUILTIN_SPACE.read_text(), mutations))
    try:
        bind(load_space(path), pruning.unit_groups(SMALL), pruning.blocks(SMALL))
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


# --- checkpoints -----------------------------------------------------------------------

def _siamrpn_state() -> dict[str, torch.Tensor]:
    return trackers.get("siamrpn").create("tiny").state_dict()


def test_checkpoint_missing_or_not_a_state_dict(tmp_path, capsys):
    code, line = cli(capsys, *PROFILE, "--checkpoint", str(tmp_path / "nope.pth"))
    assert code == 2 and "nope.pth: no such file" in line
    torch.save([1, 2, 3], tmp_path / "list.pth")
    code, line = cli(capsys, *PROFILE, "--checkpoint", str(tmp_path / "list.pth"))
    assert code == 2 and "list.pth: not a state dict (found list" in line and "model.state_dict()" in line


def test_checkpoint_of_another_family_is_named_as_such(tmp_path, capsys):
    torch.save(trackers.get("stark").create("tiny").state_dict(), tmp_path / "stark.pth")
    code, line = cli(capsys, *PROFILE, "--checkpoint", str(tmp_path / "stark.pth"))
    assert code == 2 and "no key in common" in line and "another tracker family" in line


def test_checkpoint_key_mismatches_are_listed_in_groups(tmp_path, capsys):
    state = _siamrpn_state()
    names = list(state)
    del state[names[0]]
    state["extra.weight"] = torch.zeros(1)
    state[names[1]] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "bad.pth")
    code, line = cli(capsys, *PROFILE, "--checkpoint", str(tmp_path / "bad.pth"))
    assert code == 2
    assert f"1 missing: {names[0]}; 1 unexpected: extra.weight; 1 mis-shaped: {names[1]} (3, 3)" in line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".pth", ".safetensors"]))
def test_random_bytes_as_checkpoint_give_a_checkpoint_error(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="random"):
        read_state_dict(path)


# --- data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    assert main(["data", "synth", "--out", str(root), "--train", "0", "--val", "1", "--test", "0", "--seed", "1"]) == 0
    return root


@pytest.fixture
def dataset(synth, tmp_path):
    """A private copy of a one-sequence GOT-10k-layout dataset, and its sequence folder."""
    root = tmp_path / "data"
    shutil.copytree(synth, root)
    name = (root / "val" / "list.txt").read_text().split()[0]
    return root, root / "val" / name


def test_data_root_missing_or_of_no_known_layout(tmp_path, capsys):
    code, line = cli(capsys, "data", "check", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere does not exist" in line and "pass the folder" in line
    (tmp_path / "videos").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    code, line = cli(capsys, "data", "check", str(tmp_path))
    assert code == 2 and "not a dataset root in a known layout" in line
    assert all(name in line for name in ("GOT-10k", "LaSOT", "OTB", "TrackingNet", "notes.txt"))


def test_data_empty_split(dataset, capsys):
    root, _ = dataset
    (root / "val" / "list.txt").write_text("\n")
    code, line = cli(capsys, "data", "check", str(root), "--split", "val")
    assert code == 2 and "split 'val'" in line and "holds no sequences" in line


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_data_unreadable_or_truncated_image_is_named(dataset, capsys, damage):
    root, seq = dataset
    frame = sorted(seq.glob("*.jpg"))[1]
    whole = frame.read_bytes()
    frame.write_bytes(b"not an image" if damage == "garbage" else whole[: len(whole) // 2])
    code, line = cli(capsys, "data", "check", str(root), "--split", "val")
    assert code == 2 and frame.name in line
    assert ("unreadable" in line) if damage == "garbage" else ("truncated JPEG" in line)
    seq_obj = open_split(root, "val")[0]
    with pytest.raises(DataError, match=frame.name):  # the reader used by training and tracking refuses it too
        seq_obj.image(1)


def test_data_malformed_line_and_box_outside_the_image(dataset, capsys):
    root, seq = dataset
    gt = seq / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join(lines[:3] + ["1,2,x,4"] + lines[4:]) + "\n")
    code, line = cli(capsys, "data", "check", str(root), "--split", "val")
    assert code == 2 and "groundtruth.txt:4: malformed box line '1,2,x,4'" in line and "x,y,w,h" in line
    gt.write_text("\n".join(lines[:1] + ["5000,5000,10,10"] + lines[2:]) + "\n")
    code, line = cli(capsys, "data", "check", str(root), "--split", "val")
    assert code == 2 and "groundtruth.txt:2: box (5000,5000,10,10) lies outside the" in line


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.text(max_size=25), min_size=1, max_size=3), at=st.integers(0, 1000))
def test_random_groundtruth_lines_read_or_give_a_data_error_with_the_line(synth, tmp_path_factory, garbage, at):
    root = tmp_path_factory.mktemp("gt") / "data"
    shutil.copytree(synth, root)
    gt = next((root / "val").glob("*/groundtruth.txt"))
    lines = gt.read_text().splitlines()
    at %= len(lines)
    gt.write_text("\n".join(lines[:at] + [g.replace("\r", "") for g in garbage] + lines[at:]) + "\n")
    try:
        open_split(root, "val")
    except DataError as exc:
        assert "groundtruth.txt" in str(exc) and "\n" not in str(exc)
    shutil.rmtree(root.parent)


# --- exports ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "child"
    assert main(["prune", "--tracker", "siamrpn", "--preset", "tiny", "--random-init", "--method", "uniform", "--keep", "0.5",
                 "--finetune-steps", "0", "--out", str(out)]) == 0
    return out


def test_export_target_exists_is_refused_without_force(exported, capsys):
    before = {p.name: p.read_bytes() for p in exported.iterdir()}
    capsys.readouterr()
    code, line = cli(capsys, "prune", "--tracker", "siamrpn", "--preset", "tiny", "--method", "uniform", "--keep", "0.4",
                     "--finetune-steps", "0", "--out", str(exported))
    assert code == 2 and "exists" in line and "--force" in line
    assert {p.name: p.read_bytes() for p in exported.iterdir()} == before


def test_tampered_export_weights_are_refused(exported, tmp_path, capsys):
    copy = tmp_path / "child"
    shutil.copytree(exported, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, line = cli(capsys, "profile", "--export", str(copy), "--no-latency")
    assert code == 2 and "SHA-256 does not match" in line and "refusing to load" in line


def test_export_from_a_newer_format_is_refused(exported, tmp_path, capsys):
    copy = tmp_path / "child"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "arch.json").read_text())
    manifest["format_version"] += 1
    (copy / "arch.json").write_text(json.dumps(manifest))
    code, line = cli(capsys, "profile", "--export", str(copy), "--no-latency")
    assert code == 2 and "is newer than this autoprune reads" in line and "upgrade autoprune" in line


# --- security: no code runs from a user file unless asked --------------------------------

class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_without_trust_pickle(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({**_siamrpn_state(), "payload": _RunsCode(marker)}, evil)
    for command in (PROFILE, [*SEARCH, "--runs-dir", str(tmp_path / "runs"), "--budget-mflops", "25"]):
        code, line = cli(capsys, *command, "--checkpoint", str(evil))
        assert code == 2 and "cannot be read as a weights file" in line and "--trust-pickle" in line
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_trust_pickle_is_honoured_by_search(tmp_path, capsys):
    # a checkpoint wrapped with a Python object (as some training codes save them)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": _siamrpn_state(), "args": argparse.Namespace(epochs=3)}, wrapped)
    base = [*SEARCH, "--runs-dir", str(tmp_path / "runs"), "--checkpoint", str(wrapped), "--budget-mflops", "60"]
    code, line = cli(capsys, *base)
    assert code == 2 and "--trust-pickle" in line
    code, line = cli(capsys, *base, "--trust-pickle")  # loads; then the budget above the parent stops it
    assert code == 2 and "not below the parent's" in line
