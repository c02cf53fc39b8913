"""BM25, dense and hybrid runs scored the same way; the metrics checked by hand; the dense scores built a corpus
chunk at a time."""

from __future__ import annotations

import math

import pytest

from domaintune.retrieval import search
from domaintune.retrieval.data import load_retrieval


def test_metrics_by_hand():
    qrels = {"a": {"d1": 1, "d9": 0}, "b": {"d2": 2, "d3": 1}}
    run = {"a": {"d5": 3.0, "d1": 2.0}, "b": {"d3": 3.0, "d2": 2.0}}
    m = search.score(qrels, run)
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["recall@10"] == 1.0
    # grades are linear gains (trec_eval's and BEIR's nDCG), discounted by log2(rank + 1)
    ndcg_a = (1 / math.log2(3)) / 1.0
    ndcg_b = (1 / math.log2(2) + 2 / math.log2(3)) / (2 / math.log2(2) + 1 / math.log2(3))
    assert m["ndcg@10"] == pytest.approx(round((ndcg_a + ndcg_b) / 2, 4), abs=1e-4)


def test_a_query_with_no_result_scores_zero_rather_than_being_left_out():
    assert search.score({"a": {"d1": 1}, "b": {"d2": 1}}, {"a": {"d1": 1.0}})["mrr@10"] == 0.5


def test_bm25_finds_the_document_that_shares_the_words(beir):
    data = load_retrieval(beir)
    qids = sorted(data.split("test"))
    run, timing = search.bm25_run(data, qids, k=5)
    assert set(run) == set(qids) and timing["total"] >= timing["queries"] >= 0
    assert all(len(docs) <= 5 for docs in run.values())
    assert search.score(data.split("test"), run)["recall@10"] > 0  # some queries share words with their answer


def test_dense_scores_are_built_a_corpus_chunk_at_a_time(beir, tiny_bert, monkeypatch):
    from domaintune.models import load_sentence_model

    data = load_retrieval(beir)
    shapes = []
    real = search.similarity_scores

    def recording(q, d):
        shapes.append(tuple((q @ d.T).shape))
        return real(q, d)

    monkeypatch.setattr(search, "similarity_scores", recording)
    qids = sorted(data.split("test"))
    model = load_sentence_model(str(tiny_bert), 32)
    run, _ = search.dense_run(model, data, qids, k=5, corpus_chunk=8)
    assert shapes and max(c for _, c in shapes) == 8 and sum(c for _, c in shapes) == len(data.corpus)
    whole, _ = search.dense_run(model, data, qids, k=5)  # chunking changes nothing but memory
    assert {q: list(d) for q, d in run.items()} == {q: list(d) for q, d in whole.items()}


def test_fusion_ranks_what_both_runs_rank_high_first():
    fused, _ = search.fuse([{"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q": {"b": 9.0, "a": 1.0, "d": 0.5}}])
    assert list(fused["q"])[:2] in (["a", "b"], ["b", "a"]) and set(fused["q"]) == {"a", "b", "c", "d"}
