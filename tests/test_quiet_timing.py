"""Workers of one run take turns: a child is timed only while no other worker trains.

Real processes and real ``flock`` locks; a trainer process stands in for a worker's fine-tune
(its steps are sleeps, so the test is about the locking, not the machine's speed).
"""
from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from autoprune.cost.quiet import QuietTiming, machine_quiet

pytestmark = pytest.mark.skipif(not QuietTiming(".").enabled, reason="needs fcntl (POSIX)")


def _trainer(directory: str, steps: int, step_s: float, pause: bool, started, out) -> None:
    quiet = QuietTiming(directory)
    spans = []
    with quiet.working():
        started.set()
        for _ in range(steps):
            t0 = time.monotonic()
            time.sleep(step_s)
            spans.append((t0, time.monotonic()))
            if pause:
                quiet.pause_point()
    out.put(spans)


def _spawn(target, *args, wait_s: float = 60):
    """Start ``target(*args, started, out)`` in a fresh process; return once it says it is working."""
    ctx = mp.get_context("spawn")
    started, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, started, out))
    proc.start()
    assert started.wait(wait_s), f"{target.__name__} did not start"
    return proc, out


def _start(tmp_path, *, steps: int, step_s: float, pause: bool):
    return _spawn(_trainer, str(tmp_path), steps, step_s, pause)


def test_no_training_step_runs_while_a_child_is_timed(tmp_path):
    proc, out = _start(tmp_path, steps=30, step_s=0.05, pause=True)
    time.sleep(0.2)  # the trainer is mid-run
    quiet = QuietTiming(tmp_path)
    with quiet.timing():
        window = (time.monotonic(), None)
        time.sleep(0.4)
        window = (window[0], time.monotonic())
    spans = out.get(timeout=60)
    proc.join(60)
    assert not quiet.contended
    assert quiet.waited_s < 1.0  # about one step, not the trainer's whole run
    overlapping = [s for s in spans if s[0] < window[1] and s[1] > window[0]]
    assert not overlapping, (window, overlapping)
    # and the trainer went on afterwards: steps after the timing exist
    assert any(s[0] >= window[1] for s in spans)


def test_a_trainer_without_pause_points_holds_the_timer_until_it_ends(tmp_path):
    proc, out = _start(tmp_path, steps=6, step_s=0.1, pause=False)
    quiet = QuietTiming(tmp_path, wait_s=30)
    with quiet.timing():
        timed_at = time.monotonic()
    spans = out.get(timeout=60)
    proc.join(60)
    assert timed_at >= spans[-1][1]  # waited for the whole block: no step overlapped
    assert not quiet.contended


def test_a_timer_that_waits_too_long_times_anyway_and_says_so(tmp_path):
    proc, out = _start(tmp_path, steps=20, step_s=0.1, pause=False)
    quiet = QuietTiming(tmp_path, wait_s=0.2)
    with quiet.timing():
        pass
    assert quiet.contended and quiet.waited_s >= 0.2
    out.get(timeout=60)
    proc.join(60)


def test_timers_alone_do_not_wait(tmp_path):
    quiet = QuietTiming(tmp_path)
    for _ in range(3):
        with quiet.timing():
            pass
        assert quiet.waited_s < 0.5 and not quiet.contended
    with quiet.working():  # one process: its own training and timing never nest, pause points are free
        quiet.pause_point()


def test_a_latency_search_times_its_children_in_turns(tmp_path):
    """Two workers under --budget-ms: every child's timing went through the run's locks."""
    import optuna
    import torch

    from autoprune.pipeline import prepare, search
    from autoprune.run.study import open_run
    from tests.conftest import tiny_search_settings

    torch.set_num_threads(1)
    options = dict(budget_kind="ms", workers=2, trials=3, sampler="random")
    ctx = prepare(tiny_search_settings(tmp_path, budget_value=1e3, **options), progress=False)
    # a budget below the parent as this machine times it (3-6 ms on 2 cores, by load)
    s = tiny_search_settings(tmp_path, budget_value=round(0.7 * ctx.parent_cost, 2), **options)
    search(s, progress=False, ctx=ctx)
    done = open_run(s.run_dir).study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) >= 3
    assert all("timing_waited_s" in t.user_attrs and "timing_contended" not in t.user_attrs for t in done)
    # each child was timed in turns with the parent, and its figure is the raw one at the typical speed
    for t in done:
        a = t.user_attrs
        assert a["reference_ms"] > 0 and 0.6 <= a["speed_factor"] <= 1.6
        assert a["latency_ms"] == pytest.approx(a["latency_raw_ms"] * a["speed_factor"])
    references = [t.user_attrs["reference_ms"] for t in done]
    assert len(set(references)) == len(references)  # a timing per child, not one reused
    locks = machine_quiet().directory
    assert (locks / ".timing-work.lock").exists() and (locks / ".timing-intent.lock").exists()


def _real_training(started, out) -> None:
    import torch

    import trackers
    from autoprune.train import train
    from tests.conftest import builtin_train_pairs

    torch.set_num_threads(1)
    family = trackers.get("siamrpn")
    model = family.create("tiny")
    ends = []

    def on_step(step, loss):
        ends.append(time.monotonic())
        if step == 3:
            started.set()

    train(family, model, builtin_train_pairs(family, "tiny", batch_size=2), steps=30, lr=1e-3, progress=False,
          on_step=on_step)
    out.put(ends)


def _time_beside(proc, out) -> tuple[tuple[float, float], list[float]]:
    """Hold a 0.5 s timing while ``proc`` works; returns the timing's window and the ends of proc's steps."""
    quiet = machine_quiet()
    with quiet.timing():
        start = time.monotonic()
        time.sleep(0.5)
        window = (start, time.monotonic())
    ends = out.get(timeout=300)
    proc.join(60)
    assert not quiet.contended
    return window, ends


def test_training_pauses_between_its_steps_for_a_timing():
    """autoprune.train.train, in another process, gives way to a timing on the same machine."""
    proc, out = _spawn(_real_training, wait_s=120)
    window, ends = _time_beside(proc, out)
    inside = [t for t in ends if window[0] < t < window[1]]
    assert not inside, (window, inside)  # no step finished (so none ran) while the child was timed
    assert ends[-1] > window[1] and len(ends) == 30


def _real_generation(folder, started, out) -> None:
    from pathlib import Path

    from autoprune.data.synth import generate

    ends = []

    def on_sequence(done, total):
        ends.append(time.monotonic())
        if done == 2:
            started.set()

    generate(Path(folder), train=14, val=0, test=0, frames=(40, 40), progress=on_sequence)
    out.put(ends)


def test_dataset_generation_pauses_between_its_sequences_for_a_timing(tmp_path):
    """Rendering the built-in dataset is work too: it gives way to a timing between sequences."""
    proc, out = _spawn(_real_generation, str(tmp_path / "synth"), wait_s=120)
    window, ends = _time_beside(proc, out)
    inside = [t for t in ends if window[0] < t < window[1]]
    assert not inside, (window, inside)  # no sequence was finished while the child was timed
    assert ends[-1] > window[1] and len(ends) == 14
