"""Commands that would do nothing, or the wrong thing, say so in one line and exit 2."""
from __future__ import annotations

import pytest

from tests.conftest import one_error_line, run_cli

TINY = ["--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-steps", "2", "--proxy-sequences", "1",
        "--parent-steps", "4", "--workers", "1", "--sampler", "random"]


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """A real search whose every trial failed (each passes its 1 ms --trial-timeout)."""
    root = tmp_path_factory.mktemp("failed")
    done = run_cli(root, "search", *TINY, "--trials", "1", "--trial-timeout", "0.001")
    assert "most trials failed" in one_error_line(done)
    return root, root / "runs" / "siamrpn-25m"


def test_validate_with_no_completed_trial_fails(failed_run):
    root, run = failed_run
    line = one_error_line(run_cli(root, "validate", str(run)))
    assert "nothing to validate" in line and "3 failed" in line


def test_validate_of_a_trial_the_study_lacks_fails(failed_run):
    root, run = failed_run
    assert "--trials 7" in one_error_line(run_cli(root, "validate", str(run), "--trials", "7"))


def test_export_of_a_failed_trial_fails(failed_run):
    # (with --force it is validated and exported after a warning: minutes of work, not run here)
    root, run = failed_run
    line = one_error_line(run_cli(root, "export", str(run), "--trial", "0"))
    assert "trial 0 is failed (TrialTimeout" in line and "--force" in line
    assert not (run / "export").exists()
