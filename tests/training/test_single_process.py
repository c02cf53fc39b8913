"""Until every task is rank-aware, a multi-process launch is refused before anything is written."""

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from tests.tasks.test_similarity_end_to_end import tiny_recipe


def test_a_multi_process_launch_is_refused_before_writing(tiny_bert, tiny_taxonomy, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DomaintuneError, match="one process for now, and this is one of 2"):
        api.train(tiny_recipe(tiny_bert, tiny_taxonomy, tmp_path / "run"), show_progress=False)
    assert not (tmp_path / "run").exists()
