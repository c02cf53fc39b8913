"""Every embedding task can be judged on your retrieval data (evaluation.retrieval_data): before / after in the
metrics, a plain verdict when the model got worse on it, and bad data refused before the run folder exists."""

from __future__ import annotations

import shutil

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe


def simcse(tiny_bert, beir, out, corpus):
    return load_recipe(None, [
        "task=simcse", f"model.name={tiny_bert}", "model.max_seq_length=24", f"data.train={corpus}",
        "training.batch_size=8", "training.max_steps=4", "training.eval_steps=4", "evaluation.stsb=false",
        f"evaluation.retrieval_data={beir}", f"output.dir={out}"])


@pytest.fixture
def corpus(beir, tmp_path):
    import json

    path = tmp_path / "domain.txt"
    path.write_text("\n".join(json.loads(line)["title"] for line in (beir / "corpus.jsonl").read_text().splitlines()))
    return path


def test_a_simcse_run_reports_judged_retrieval_before_and_after(tiny_bert, beir, corpus, tmp_path):
    m = api.train(simcse(tiny_bert, beir, tmp_path / "run", corpus), show_progress=False)
    for side in ("before", "after"):
        assert set(m[side]["judged_test"]) == {"ndcg@10", "map@100", "mrr@10", "recall@10", "recall@100"}
    assert m["directions"]["judged_test"]["ndcg@10"] == "higher"
    went = "worse" if m["after"]["judged_test"]["ndcg@10"] < m["before"]["judged_test"]["ndcg@10"] else "better"
    assert any(line.startswith("judged_test ndcg@10") for line in m["verdict"][went])
    report = (tmp_path / "run" / "report.md").read_text()
    assert ("WORSE than its base" in report) == bool(m["verdict"]["worse"])
    # the best checkpoint by nDCG@10 on the judgments the run is not judged by (train: a label-free run never trains
    # on them), not by the test split
    assert m["training"]["validation_metric_key"] == "eval_validation_cosine_ndcg@10"
    assert "train judgments" in m["training"]["checkpoint_choice"] and m["training"]["validated_on_domain"]
    assert "unjudged" not in m["verdict"]


def test_a_label_free_run_with_nothing_on_the_domain_says_so_and_keeps_least_general_loss(tiny_bert, corpus,
                                                                                         tmp_path):
    recipe = load_recipe(None, [
        "task=simcse", f"model.name={tiny_bert}", "model.max_seq_length=24", f"data.train={corpus}",
        "training.batch_size=8", "training.max_steps=4", "training.eval_steps=2", f"output.dir={tmp_path / 'run'}"])
    m = api.train(recipe, show_progress=False)
    assert m["training"]["validation_metric_key"] == "eval_validation_spearman_cosine"
    assert not m["training"]["validated_on_domain"] and m["verdict"]["worse"] == m["verdict"]["better"] == []
    assert "lost least general ability" in m["verdict"]["unjudged"]
    for page in ("report.md", "report.html"):
        assert "Not shown better than the base" in (tmp_path / "run" / page).read_text()


def test_bad_retrieval_data_is_refused_before_the_run_folder_exists(tiny_bert, beir, corpus, tmp_path):
    folder = shutil.copytree(beir, tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\tnope\t1\n")
    with pytest.raises(DomaintuneError, match="unknown document id 'nope'"):
        api.train(simcse(tiny_bert, folder, tmp_path / "run", corpus), show_progress=False)
    assert not (tmp_path / "run").exists()


def test_a_recipe_may_skip_bad_judgments_and_counts_them(tiny_bert, beir, corpus, tmp_path, caplog):
    folder = shutil.copytree(beir, tmp_path / "bad")
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q0\tnope\t1\nq1\td1\tvery\n")
    recipe = simcse(tiny_bert, folder, tmp_path / "run", corpus)
    recipe.evaluation.retrieval_on_bad_rows = "skip"
    m = api.train(recipe, show_progress=False)
    assert m["run"]["retrieval_skipped_rows"] == {str(qrels): 2}
    assert f"{qrels}: 2 bad row(s) skipped" in caplog.text
