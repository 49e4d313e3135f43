"""Built-in splits larger than the default dataset's: same first sequences, made on first use."""
import json

import pytest

from autoprune.data import available_splits, builtin_root, builtin_split_root, open_split
from conftest import run_cli


def test_a_larger_val_split_starts_with_the_default_one():
    assert builtin_split_root("val") == builtin_root() == builtin_split_root("val", 64)
    root = builtin_split_root("val", 66)
    assert root.name.endswith("-train0-val66-test0")
    grown, default = open_split(root, "val"), open_split(builtin_root(), "val")
    assert len(grown) == 66 and [s.name for s in grown[:64]] == [s.name for s in default]
    for i in (0, 63):  # the same sequence, frame for frame
        assert (grown[i].boxes == default[i].boxes).all() and len(grown[i]) == len(default[i])
        assert (grown[i].image(len(grown[i]) - 1) == default[i].image(len(default[i]) - 1)).all()
    assert available_splits(root) == ["val"]  # a val-only dataset: training reads the default one


def test_an_unknown_built_in_split_is_refused():
    with pytest.raises(ValueError, match="not 'dev'"):
        builtin_split_root("dev", 100)


def test_evaluate_beyond_the_default_split_tracks_the_larger_one(tmp_path):
    builtin_split_root("val", 66)
    done = run_cli(tmp_path, "evaluate", "--baseline", "static", "--max-sequences", "66", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sequences"] == 66


def test_a_search_validates_on_the_larger_split_it_asks_for(tmp_path):
    from autoprune.run.context import build_context
    from conftest import tiny_search_settings

    builtin_split_root("val", 66)
    ctx = build_context(tiny_search_settings(tmp_path, validate_sequences=66), progress=False)
    assert len(ctx.val_sequences) == 66 and ctx.val_sequences[0].name == open_split(builtin_root(), "val")[0].name
    assert len(ctx.train_sequences) == len(open_split(builtin_root(), "train"))  # training data is the default's
    default = build_context(tiny_search_settings(tmp_path / "b"), progress=False)
    assert len(default.val_sequences) == 64


def test_a_study_scores_on_the_larger_split_it_asks_for(tmp_path):
    from autoprune.study import Study
    from autoprune.study.spec import parse_spec

    builtin_split_root("val", 66)
    spec = parse_spec({"name": "t", "budgets": [0.5], "max_sequences": 66, "families": {"siamrpn": {"preset": "tiny"}},
                       "methods": {"uniform": {}}, "out": str(tmp_path / "t")}, tmp_path / "t.yaml")
    study = Study(spec, progress=False)
    assert len(study.val_split) == 66 and len(study.train_split) == len(open_split(builtin_root(), "train"))
