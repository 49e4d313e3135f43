"""Progress output when stderr is not a terminal (CI logs, nohup, cluster job logs)."""
from autoprune import progress


def test_non_terminal_progress_prints_status_lines(capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    assert not progress.console.is_terminal  # pytest captures stderr
    with progress.progress_bar("training x", total=4) as bar:
        bar.update(advance=1, info="loss 0.50")
        bar.advance(3)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("training x")]
    assert lines[0].startswith("training x: 1/4 (25 %)") and lines[0].endswith("— loss 0.50")
    assert "about" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("training x: 4/4 (100 %)")


def test_non_terminal_progress_is_rate_limited(capsys):
    with progress.progress_bar("evaluating", total=1000) as bar:
        for _ in range(1000):
            bar.advance()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evaluating")]
    assert lines == [lines[-1]] and lines[-1].startswith("evaluating: 1000/1000 (100 %)")


def test_disabled_progress_prints_nothing(capsys):
    with progress.progress_bar("quiet", total=3, enabled=False) as bar:
        bar.advance(3)
    assert "quiet" not in capsys.readouterr().err
