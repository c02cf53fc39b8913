"""A multi-process launch of a run whose task does not declare itself rank-aware (`RecipeBase.multi_process()`,
False by default: a new task must opt in) is refused before anything is written."""

import pytest

from domaintune import api
from domaintune.classification.recipe import ClassificationRecipe
from domaintune.errors import DomaintuneError
from tests.classification.test_end_to_end import tiny_recipe


def test_a_multi_process_launch_of_a_run_not_rank_aware_is_refused(tiny_bert, job_title_classes, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(ClassificationRecipe, "multi_process", lambda self: False)
    with pytest.raises(DomaintuneError, match="classification run works in one process for now, and this is one of 2"):
        api.train(tiny_recipe(tiny_bert, job_title_classes, tmp_path / "run", "frozen"), show_progress=False)
    assert not (tmp_path / "run").exists()
