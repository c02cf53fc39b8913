"""Training from judgments (similarity with data.retrieval): pairs from the train split, the best checkpoint by
nDCG@10 on held-out queries, test judged before and after beside BM25 and the hybrids; mined negatives are never
judged positives; resume after kill -9 and two processes; a positive-only pairs file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from domaintune import api
from domaintune.core.recipe import recipe_to_yaml
from domaintune.registry import load_recipe


def judged_recipe(tiny_bert, beir, out, *extra):
    return load_recipe(None, [
        f"model.name={tiny_bert}", "model.max_seq_length=32", f"data.retrieval={beir}", "data.taxonomy=null",
        "training.loss=in_batch_negatives", "training.batch_size=8", "training.max_steps=12",
        "training.eval_steps=4", "training.learning_rate=1e-3", "evaluation.stsb=false", f"output.dir={out}",
        *extra])


def test_training_from_judgments_reports_test_before_after_with_bm25_and_hybrids(tiny_bert, beir, tmp_path):
    m = api.train(judged_recipe(tiny_bert, beir, tmp_path / "run"), show_progress=False)
    assert m["training"]["validation_metric"] == "ndcg@10"
    assert m["run"]["train_pairs"] == 27 and m["run"]["validation_pairs"] == 3  # 30 train queries, 10% held out
    assert set(m["after"]) == {"judged_test"} and "ndcg@10" in m["before"]["judged_test"]
    systems = m["retrieval_systems"]["judged_test"]
    assert set(systems) == {"bm25", "before (base model)", "after (tuned model)", "hybrid: bm25 + before",
                            "hybrid: bm25 + after"}
    assert systems["after (tuned model)"]["ndcg@10"] == m["after"]["judged_test"]["ndcg@10"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Search on your data (judged_test)" in report and "queries whose first relevant document" in report
    saved = load_recipe(tmp_path / "run" / "recipe.yaml")
    assert saved.evaluation.retrieval_data == str(beir)  # judged by the same data's test split, said in the recipe


def test_mined_negatives_are_never_judged_positives(tiny_bert, beir, tmp_path):
    from domaintune.similarity.judgments import mining_pool

    recipe = judged_recipe(tiny_bert, beir, tmp_path / "run", "training.mine_hard_negatives=true",
                           "training.mining.range_min=0", "training.mining.range_max=5",
                           "training.mining.relative_margin=0", "training.mining.num_negatives=3")
    api.train(recipe, show_progress=False)
    mined = pd.read_csv(tmp_path / "run" / "data" / "mined_negatives.csv", dtype=str, keep_default_na=False)
    corpus, judged = mining_pool(recipe)
    assert len(mined) > 0 and set(mined["negative"]) <= set(corpus)
    assert not {(a, n) for a, n in zip(mined["text_a"], mined["negative"], strict=True)} & judged


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_training_from_judgments_resumes_after_kill(tiny_bert, beir, tmp_path):
    from tests.conftest import kill_then_resume

    out = tmp_path / "killed"
    path = tmp_path / "r.yaml"
    path.write_text(recipe_to_yaml(judged_recipe(tiny_bert, beir, out, "training.max_steps=24")))
    resumed = kill_then_resume(path, out, checkpoints=1)
    assert resumed["training"]["global_step"] == 24 and "judged_test" in resumed["after"]


def test_a_positive_only_pairs_file_trains_with_in_batch_negatives(tiny_bert, tmp_path, caplog):
    rows = pd.DataFrame({"text_a": [f"query {k}" for k in range(40)], "text_b": [f"answer {k}" for k in range(40)]})
    rows.to_csv(tmp_path / "pairs.csv", index=False)
    recipe = load_recipe(None, [f"model.name={tiny_bert}", "model.max_seq_length=16",
                                f"data.train={tmp_path / 'pairs.csv'}", "data.taxonomy=null",
                                "training.loss=in_batch_negatives", "training.max_steps=2", "training.eval_steps=2",
                                "evaluation.stsb=false", f"output.dir={tmp_path / 'run'}"])
    with caplog.at_level("INFO", logger="domaintune"):
        m = api.train(recipe, show_progress=False)
    assert m["run"]["train_pairs"] + m["run"]["validation_pairs"] == 40
    assert m["training"]["validation_metric"] == "mrr@10"  # each validation query finds its own text
    assert any("no 'score' column: each of its 40 rows is a positive pair" in r.message for r in caplog.records)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["training"]["global_step"] == 2


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_training_from_judgments_under_two_processes(tiny_bert, beir, tmp_path):
    from tests.core.test_two_processes import train

    out = tmp_path / "two"
    path = tmp_path / "two.yaml"
    path.write_text(recipe_to_yaml(judged_recipe(tiny_bert, beir, out, "training.batch_size=4")))
    res = train(path, 2)
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"]["world_size"] == 2 and m["training"]["global_batch_size"] == 8
    assert "judged_test" in m["after"] and res.stdout.count("before / after") == 1
