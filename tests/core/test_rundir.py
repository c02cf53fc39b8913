"""core/rundir.py: never lose an earlier run."""

from __future__ import annotations

import pytest

from domaintune.core.recipe import save_recipe
from domaintune.core.rundir import prepare_run_dir, saved_recipe
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe


def started(out, *overrides):
    r = load_recipe(None, [f"output.dir={out}", *overrides])
    out.mkdir(parents=True, exist_ok=True)
    save_recipe(r, out / "recipe.yaml")
    return r


def test_an_empty_or_missing_folder_is_free_and_not_created(tmp_path):
    r = load_recipe(None, [f"output.dir={tmp_path / 'new'}"])
    assert prepare_run_dir(r, False, False) == tmp_path / "new" and not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("mine")  # not a run's file
    assert prepare_run_dir(load_recipe(None, [f"output.dir={tmp_path / 'empty'}"]), False, False)


def test_an_occupied_folder_needs_resume_or_overwrite(tmp_path):
    r = started(tmp_path / "run")
    with pytest.raises(DomaintuneError, match="already holds a run; pass --resume"):
        prepare_run_dir(r, False, False)
    assert prepare_run_dir(r, True, False) == tmp_path / "run"  # the same recipe resumes
    assert (tmp_path / "run" / "recipe.yaml").exists()
    prepare_run_dir(r, False, True)  # --overwrite replaces it
    assert not (tmp_path / "run").exists()


def test_resume_with_another_recipe_or_task_is_refused(tmp_path):
    started(tmp_path / "run")
    other = load_recipe(None, [f"output.dir={tmp_path / 'run'}", "training.epochs=3"])
    with pytest.raises(DomaintuneError, match="differs from the one this run started with"):
        prepare_run_dir(other, True, False)
    mlm = load_recipe(None, ["task=mlm", f"output.dir={tmp_path / 'run'}"])
    assert saved_recipe(tmp_path / "run", type(mlm)) is None  # another task's run: no recipe of this class
    with pytest.raises(DomaintuneError, match="differs"):
        prepare_run_dir(mlm, True, False)


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DomaintuneError, match="is an existing file"):
        prepare_run_dir(load_recipe(None, [f"output.dir={tmp_path / 'f'}"]), False, True)
    assert (tmp_path / "f").read_text() == "x"
