"""Storage URLs: the documented postgresql:// form works, and no password reaches a file or a printed line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest

from autoprune.errors import ConfigError
from autoprune.redact import URL_ENV, mask_secrets

TINY = ["--tracker", "siamrpn", "--preset", "tiny", "--budget-mflops", "25", "--proxy-steps", "1", "--proxy-sequences", "1",
        "--parent-steps", "4", "--validate-max", "0", "--workers", "1", "--sampler", "random"]


def _cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in (env or os.environ).items() if k != URL_ENV}
    return subprocess.run([sys.executable, "-m", "autoprune.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**env, "PYTHONPATH": str(Path.cwd())})


def test_masking_keeps_everything_but_the_password():
    assert mask_secrets("postgresql://bob:s3cr@t@db.example:5432/x") == "postgresql://bob:***@db.example:5432/x"
    assert mask_secrets("autoprune search --storage postgresql+psycopg2://u:p%40ss@h/db --trials 2") == \
        "autoprune search --storage postgresql+psycopg2://u:***@h/db --trials 2"
    for unchanged in ("postgresql://h:5432/db", "sqlite:////tmp/a.db", "journal:/tmp/study.log", "postgresql://u@h/db"):
        assert mask_secrets(unchanged) == unchanged


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path):
    done = _cli(tmp_path, "search", *TINY, "--storage", "postgresql://bob:hunter2@127.0.0.1:9/nowhere")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "hunter2" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bob:***@127.0.0.1:9" in errors[0] and "cannot open" in errors[0]
    assert not (tmp_path / "runs").exists()


def test_an_export_records_the_command_without_the_password(tmp_path):
    import trackers
    from autoprune.export import export_model

    family = trackers.get("siamrpn")
    out = export_model(family, family.create("tiny").eval(), tmp_path / "export",
                       info={"command": "autoprune search --storage postgresql://bob:hunter2@h/db"})
    for name in ("arch.json", "card.md"):
        text = (out / name).read_text()
        assert "hunter2" not in text and "bob:***@h/db" in text


def test_postgresql_url_as_the_readme_writes_it(tmp_path):
    from test_storages import _postgres_url

    url, reason = _postgres_url()
    if url is None:
        pytest.skip(reason)
    plain = url.replace("postgresql+psycopg2://", "postgresql://", 1)  # the form --help and the README show
    password = plain.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    name = f"pg-plain-{uuid.uuid4().hex[:8]}"
    try:
        done = _cli(tmp_path, "search", *TINY, "--trials", "1", "--storage", plain, "--study-name", name)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f":{password}@" not in done.stdout + done.stderr
        run_dir = tmp_path / "runs" / name
        for f in run_dir.rglob("*"):
            if f.is_file() and f.suffix in (".json", ".md", ".txt", ""):
                assert f":{password}@" not in f.read_text(errors="replace"), f
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["storage"] == mask_secrets(plain) != plain
        # a later command finds the password only where the user put it
        from autoprune.run.study import open_run

        os.environ.pop(URL_ENV, None)
        with pytest.raises(ConfigError, match=URL_ENV) as refused:
            open_run(run_dir)
        assert f":{password}@" not in str(refused.value)
        os.environ[URL_ENV] = plain
        study = open_run(run_dir).study
        assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 1
    finally:
        os.environ.pop(URL_ENV, None)
        try:
            optuna.delete_study(study_name=name, storage=url)
        except KeyError:
            pass
