"""A multi-process launch of a run that is not rank-aware yet (frozen features, few-shot, MLM, pipelines) is
refused before anything is written."""

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from tests.tasks.test_classification_end_to_end import tiny_recipe


def test_a_multi_process_launch_of_a_run_not_yet_rank_aware_is_refused(tiny_bert, job_title_classes, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DomaintuneError, match="classification run works in one process for now, and this is one of 2"):
        api.train(tiny_recipe(tiny_bert, job_title_classes, tmp_path / "run", "frozen"), show_progress=False)
    assert not (tmp_path / "run").exists()
