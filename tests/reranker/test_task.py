"""task: reranker end to end on the tiny model: `init` writes a complete recipe, the CLI trains it, the test
queries' first-stage top k are reranked before and after beside the first stage alone, the model folder loads as a
reranker; training rows never take a judged document as a negative; bad input is one line and leaves no run
folder; resume after kill -9 and two processes (slow suite)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from domaintune import api, registry
from domaintune.core.contract import OutputKind
from domaintune.core.recipe import recipe_to_yaml
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe
from domaintune.reranker.evaluation import RerankingEvaluator
from domaintune.retrieval import search
from tests.test_cli import assert_one_line_error, cli


def reranker_recipe(tiny_bert, beir, out, *extra):
    return load_recipe(None, [
        "task=reranker", f"model.name={tiny_bert}", "model.max_seq_length=48", f"data.retrieval={beir}",
        "data.negatives_per_query=3", "training.batch_size=8", "training.max_steps=6", "training.eval_steps=3",
        "training.learning_rate=1e-4", "evaluation.top_k=20", f"output.dir={out}", *extra])


def test_init_writes_a_recipe_the_cli_trains_end_to_end(tiny_bert, beir, tmp_path):
    path = tmp_path / "reranker.yaml"
    assert cli("init", "reranker", "-o", path).returncode == 0
    text = path.read_text()
    for field in ("first_stage:", "negatives_per_query:", "loss:", "top_k:", "validation_top_k:"):
        assert field in text  # every default written out, each with its comment
    res = cli("train", path, "--set", f"model.name={tiny_bert}", "--set", "model.max_seq_length=48", "--set",
              f"data.retrieval={beir}", "--set", "training.max_steps=4", "--set", "training.eval_steps=2", "--set",
              "evaluation.top_k=20", "--set", f"output.dir={tmp_path / 'run'}")
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["task"] == "reranker" and set(m["after"]) == {"rerank_test"}
    assert set(m["after"]["rerank_test"]) == {"ndcg@10", "map@100", "mrr@10", "recall@10", "recall@100"}
    first = m["baselines"]["first stage (bm25)"]["rerank_test"]
    # reranking reorders the first stage's top 20: Recall@20 and so Recall@10 can move, Recall@100 cannot exceed it
    assert m["after"]["rerank_test"]["recall@100"] <= first["recall@100"] + 1e-9
    fused = m["baselines"]["first stage (bm25) + reranker, fused (RRF)"]["rerank_test"]
    assert fused["recall@100"] <= first["recall@100"] + 1e-9  # the fusion reorders the same top 20
    assert m["training"]["validation_metric_key"] == "eval_validation_ndcg@10"
    assert m["run"]["ms_per_query_after"] > 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "first stage (bm25) (baseline)" in report and "rerank_test" in report


def test_fusing_the_first_stage_with_its_own_order_changes_nothing_and_fusion_can_repair_a_reranker():
    qrels = {"q1": {"a": 1}, "q2": {"c": 1}}
    first = {"q1": {"a": 3.0, "b": 2.0, "x": 1.0}, "q2": {"c": 3.0, "d": 2.0, "y": 1.0}}  # x, y beyond top 2
    evaluator = RerankingEvaluator(None, qrels, first, top_k=2, name="rerank_test")
    top2 = {q: {d: s for d, s in docs.items() if d in "abcd"} for q, docs in first.items()}
    assert evaluator.fused(top2) == search.score(qrels, top2)
    # a reranker that puts one relevant document second: RRF ties it with the first stage's order, and ranx
    # breaks the tie by document id; MRR@10 of the fused run lies between the two runs' (1.0 and 0.5 here)
    wrong = {"q1": {"b": 2.0, "a": 1.0}, "q2": {"c": 2.0, "d": 1.0}}
    fused = evaluator.fused(wrong)["mrr@10"]
    assert search.score(qrels, wrong)["mrr@10"] <= fused <= 1.0


def test_the_saved_model_loads_as_a_reranker_and_ranks(tiny_bert, beir, tmp_path):
    api.train(reranker_recipe(tiny_bert, beir, tmp_path / "run", "training.loss=lambda"), show_progress=False)
    model = registry.load_model(tmp_path / "run" / "model")
    assert model.output_kind is OutputKind.SCORES and model.metadata["task"] == "reranker"
    raw = model.predict([("nurse", "registered nurse"), ("nurse", "welder")])  # logits; the CLI shows sigmoid
    ranked = api.rerank(str(tmp_path / "run" / "model"), "nurse", ["registered nurse", "welder"])
    assert [r["score"] for r in sorted(ranked, key=lambda r: r["index"])] == pytest.approx(
        (1 / (1 + np.exp(-raw))).tolist(), abs=1e-5)
    assert model.served_info() == {"activation": "sigmoid"}


def test_training_rows_never_take_a_judged_document_as_a_negative(tiny_bert, beir, tmp_path):
    from domaintune.reranker.data import first_stage_runs, load_data, training_rows

    recipe = reranker_recipe(tiny_bert, beir, tmp_path / "run", "data.negatives_per_query=30",
                             "data.negative_pool=40")
    rd = load_data(recipe)
    run, _ = first_stage_runs(recipe, rd)
    rows = training_rows(recipe, rd, run)
    judged = {(rd.data.queries[q], rd.data.document(d)) for split in rd.data.qrels.values()
              for q, docs in split.items() for d, r in docs.items() if r > 0}
    negatives = {(q, d) for q, d, y in zip(rows["query"], rows["document"], rows["label"], strict=True) if y == 0}
    positives = {(q, d) for q, d, y in zip(rows["query"], rows["document"], rows["label"], strict=True) if y == 1}
    assert negatives and not negatives & judged and positives <= judged
    assert len({q for q, _ in positives}) == len(rd.train)


def test_bad_input_is_one_line_and_leaves_no_run_folder(tiny_bert, beir, tmp_path):
    with pytest.raises(DomaintuneError, match="set data.retrieval"):
        api.train(load_recipe(None, ["task=reranker", f"output.dir={tmp_path / 'a'}"]), show_progress=False)
    assert not (tmp_path / "a").exists()
    folder = shutil.copytree(beir, tmp_path / "bad")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n")
    path = tmp_path / "r.yaml"
    path.write_text(recipe_to_yaml(reranker_recipe(tiny_bert, folder, tmp_path / "b")))
    assert_one_line_error(cli("train", path), "train.tsv", "unknown document id 'nope'")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_a_reranker_run_resumes_after_kill(tiny_bert, beir, tmp_path):
    from tests.conftest import kill_then_resume

    out = tmp_path / "killed"
    path = tmp_path / "r.yaml"
    path.write_text(recipe_to_yaml(reranker_recipe(tiny_bert, beir, out, "training.max_steps=30",
                                                   "training.eval_steps=5", "training.batch_size=4")))
    resumed = kill_then_resume(path, out, checkpoints=1)
    assert resumed["training"]["global_step"] == 30 and resumed["training"]["resumed_from"]


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_a_reranker_run_under_two_processes(tiny_bert, beir, tmp_path):
    from tests.core.test_two_processes import train

    out = tmp_path / "two"
    path = tmp_path / "two.yaml"
    path.write_text(recipe_to_yaml(reranker_recipe(tiny_bert, beir, out, "training.batch_size=4")))
    train(path, 2)
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"]["world_size"] == 2 and m["training"]["global_batch_size"] == 8
    assert "rerank_test" in m["after"]


@pytest.mark.parametrize("graded", [True, False])
def test_a_pairs_file_trains_the_reranker_and_the_judgments_judge_it(tiny_bert, beir, tmp_path, graded):
    import pandas as pd

    from domaintune.reranker.data import load_data

    rows = pd.DataFrame({"text_a": ["nurse", "nurse", "welder", "software developer", "baker", "pilot"],
                         "text_b": ["registered nurse", "tax lawyer", "metal welder", "programmer", "pastry cook",
                                    "airline captain"]})
    if graded:
        rows["score"] = [5, 0, 4, 5, 3, 5]  # 0-5: normalised to 0-1
    rows.to_csv(tmp_path / "pairs.csv", index=False)
    recipe = reranker_recipe(tiny_bert, beir, tmp_path / "run", f"data.train={tmp_path / 'pairs.csv'}",
                             "data.negatives_per_query=2")
    data = load_data(recipe)
    if graded:
        assert data.rows["label"] == pytest.approx([1.0, 0.0, 0.8, 1.0, 0.6, 1.0])
    else:  # each first text: its own second texts as positives, BM25 negatives among the others, never its own
        labelled = list(zip(data.rows["query"], data.rows["document"], data.rows["label"], strict=True))
        pos = {(q, d) for q, d, y in labelled if y == 1}
        assert pos == set(zip(rows.text_a, rows.text_b, strict=True))
        assert not {(q, d) for q, d, y in labelled if y == 0} & pos
    m = api.train(recipe, show_progress=False)
    assert m["run"]["train_file"] == str(tmp_path / "pairs.csv") and "rerank_test" in m["after"]
