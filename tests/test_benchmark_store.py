"""The benchmarks' result store: chunked evaluations equal whole ones, claims are shared and taken over."""
import json
import os
import subprocess
import sys
import threading
import time

from autoprune.data import builtin_root, open_split
from autoprune.eval import evaluate
from autoprune.eval.baselines import StaticBoxTracker
from benchmarks import _store
from benchmarks._store import ResultStore, chunked_totals, first, merged, totals


def _static(sequences) -> dict:
    return totals(evaluate(StaticBoxTracker(), sequences, progress=False))


def test_chunked_evaluation_equals_the_whole_one(tmp_path):
    sequences = open_split(builtin_root(), "val")[:5]
    whole = _static(sequences)
    store = ResultStore(tmp_path)
    for order in (1, -1):  # a second process walks the chunks in reverse; both read the same records
        chunked = chunked_totals(store, {"what": "static"}, sequences, _static, order=order, chunk=2)
        assert chunked["sums"] == whole["sums"] and chunked["counts"] == whole["counts"]
        assert abs(chunked["ao"] - whole["ao"]) < 1e-12 and abs(chunked["sr50"] - whole["sr50"]) < 1e-12
    assert len(list(tmp_path.glob("*.json"))) == 3  # 2 + 2 + 1 sequences
    head = first(whole, 2)
    assert head["sums"] == _static(sequences[:2])["sums"]
    assert abs(head["sr50"] - _static(sequences[:2])["sr50"]) < 1e-12


def test_a_record_without_the_needed_fields_is_computed_again(tmp_path):
    store = ResultStore(tmp_path)
    key = {"what": "old"}
    store.path(key).write_text(json.dumps({"key": key, "ao": 0.5, "sums": [1.0], "counts": [2.0]}))
    calls = []
    record = store.get_or_run(key, lambda: calls.append(1) or {"ao": 0.25, "sums": [1.0], "counts": [4.0], "hits": [0.0]},
                              needs=("hits",))
    assert calls == [1] and record["ao"] == 0.25
    assert store.get(key, ("hits",))["ao"] == 0.25


def test_a_live_claim_is_waited_for_and_a_dead_one_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(_store, "POLL_SECONDS", 0.05)
    store = ResultStore(tmp_path)
    key = {"what": "shared"}
    claim = store.path(key).with_suffix(".claim")

    # A claim by a process that has exited is stale: it is taken over at once.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim.write_text(gone.stdout.strip())
    assert store.get_or_run(key, lambda: {"value": 1})["value"] == 1
    assert not claim.exists()

    # A live claim (this test's own parent process stands in for another worker) is waited on
    # until its owner writes the result; the waiting side never runs the work itself.
    other = {"what": "claimed"}
    claim = store.path(other).with_suffix(".claim")
    claim.write_text(str(os.getppid()))

    def finish():
        time.sleep(0.3)
        store.path(other).write_text(json.dumps({"key": other, "value": 2}))
        claim.unlink()

    writer = threading.Thread(target=finish)
    writer.start()
    ran = []
    assert store.get_or_run(other, lambda: ran.append(1) or {"value": 3})["value"] == 2
    writer.join()
    assert ran == []


def test_merged_pools_frames_across_chunks():
    a = {"sums": [3.0], "counts": [4.0], "hits": [3.0]}
    b = {"sums": [0.0, 1.0], "counts": [2.0, 2.0], "hits": [0.0, 1.0]}
    record = merged([a, b])
    assert record["ao"] == 4.0 / 8.0 and record["sr50"] == 4.0 / 8.0 and record["counts"] == [4.0, 2.0, 2.0]
