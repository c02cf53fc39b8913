"""Silver pairs (Augmented SBERT) from judgments: a cross-encoder trained on the gold train queries labels the
left-out (or given) queries' BM25 candidates; its confident positives join the gold pairs. Cached in the run
folder, so a resumed run neither trains nor scores again; refused before the run starts when nothing can be
labelled; runs under two processes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from domaintune import api
from domaintune.core.recipe import recipe_to_yaml
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe


def silver_recipe(tiny_bert, beir, out, *extra):
    return load_recipe(None, [
        f"model.name={tiny_bert}", "model.max_seq_length=32", f"data.retrieval={beir}", "data.taxonomy=null",
        "data.max_train_queries=10", "data.silver.enabled=true", "data.silver.min_score=0",
        "data.silver.max_seq_length=48", "data.silver.training.max_steps=4", "data.silver.training.eval_steps=2",
        "data.silver.training.batch_size=8", "training.loss=in_batch_negatives", "training.batch_size=8",
        "training.max_steps=4", "training.eval_steps=2", "evaluation.stsb=false", f"output.dir={out}", *extra])


def test_silver_pairs_label_the_left_out_queries_and_join_the_gold_ones(tiny_bert, beir, tmp_path):
    from domaintune.similarity.judgments import judged_splits

    recipe = silver_recipe(tiny_bert, beir, tmp_path / "run")
    m = api.train(recipe, show_progress=False)
    data, gold, _, _, left_out = judged_splits(recipe)
    silver = pd.read_csv(tmp_path / "run" / "data" / "silver_pairs.csv", dtype=str, keep_default_na=False)
    assert len(gold) == 10 and len(left_out) == 17  # 27 train queries after 10% held out for validation
    assert 0 < len(silver) <= len(left_out) and set(silver["query_id"]) <= set(left_out)  # never a gold query
    assert all(t == data.queries[q] for t, q in zip(silver["text_a"], silver["query_id"], strict=True))
    assert m["run"]["silver_pairs"] == len(silver) and m["run"]["train_pairs"] == 10 + len(silver)
    assert (tmp_path / "run" / "silver" / "checkpoints").is_dir()  # the cross-encoder's own checkpoints
    # with min_score 1.0 no candidate qualifies: nothing is added, and the run says so
    m = api.train(silver_recipe(tiny_bert, beir, tmp_path / "none", "data.silver.min_score=1.0"), show_progress=False)
    assert m["run"]["silver_pairs"] == 0 and m["run"]["train_pairs"] == 10
    scored = pd.read_csv(tmp_path / "none" / "data" / "silver_pairs.csv")  # every query's best candidate, cached
    assert len(scored) == len(silver) and (scored["silver_score"] < 1.0).all()
    teacher = json.loads((tmp_path / "none" / "data" / "silver_pairs.json").read_text())
    assert teacher["scored_queries"] == len(scored) and "validation_ndcg@10" in teacher
    assert any("No silver pairs" in note for note in m["verdict"]["notes"])
    assert "No silver pairs" in (tmp_path / "none" / "report.md").read_text()


@pytest.mark.slow  # a second silver run (cross-encoder trained and scoring): the fast suite stays < 15 min
def test_silver_queries_from_a_file(tiny_bert, beir, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("registered nurse\nsoftware developer\n\nwelder\n")
    m = api.train(silver_recipe(tiny_bert, beir, tmp_path / "run", "data.max_train_queries=null",
                                f"data.silver.queries={queries}"), show_progress=False)
    silver = pd.read_csv(tmp_path / "run" / "data" / "silver_pairs.csv", dtype=str, keep_default_na=False)
    assert set(silver["text_a"]) <= {"registered nurse", "software developer", "welder"} and len(silver) >= 1
    assert m["run"]["silver_pairs"] == len(silver)


def test_nothing_to_label_is_refused_before_the_run_starts(tiny_bert, beir, tmp_path):
    with pytest.raises(DomaintuneError, match="no unlabelled queries"):
        api.train(silver_recipe(tiny_bert, beir, tmp_path / "a", "data.max_train_queries=null"), show_progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(DomaintuneError, match="set data.retrieval"):
        api.train(silver_recipe(tiny_bert, beir, tmp_path / "b", "data.retrieval=null",
                                "data.train=nope.csv"), show_progress=False)
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_a_resumed_silver_run_neither_trains_nor_scores_again(tiny_bert, beir, tmp_path):
    from tests.conftest import kill_then_resume

    out = tmp_path / "killed"
    path = tmp_path / "r.yaml"
    path.write_text(recipe_to_yaml(silver_recipe(tiny_bert, beir, out, "training.max_steps=40",
                                                 "training.batch_size=4")))
    resumed = kill_then_resume(path, out, checkpoints=1)
    assert resumed["training"]["global_step"] == 40 and resumed["training"]["resumed_from"]
    pairs = out / "data" / "silver_pairs.csv"
    first_checkpoint = min(p.stat().st_mtime_ns for p in (out / "checkpoints").iterdir())
    assert pairs.stat().st_mtime_ns <= first_checkpoint  # written once, before the bi-encoder trained
    assert resumed["run"]["silver_pairs"] == len(pd.read_csv(pairs))


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_a_silver_run_under_two_processes(tiny_bert, beir, tmp_path):
    from tests.core.test_two_processes import train

    out = tmp_path / "two"
    path = tmp_path / "two.yaml"
    path.write_text(recipe_to_yaml(silver_recipe(tiny_bert, beir, out, "training.batch_size=4",
                                                 "data.silver.training.batch_size=4")))
    train(path, 2)
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"]["world_size"] == 2 and m["run"]["silver_pairs"] > 0
