"""Reranking a first stage with a cross-encoder: the reranked run keeps the first stage's top k and orders them by
the reranker's scores, `evaluate --retrieval --rerank` adds a row per first stage, and `domaintune rerank` ranks a
file of candidates for one query, with bad input as one line and exit code 2."""

from __future__ import annotations

import pytest

from domaintune import api
from domaintune.models import load_cross_encoder
from domaintune.retrieval.data import load_retrieval
from domaintune.retrieval.evaluation import compare_systems
from domaintune.retrieval.search import bm25_run, rerank_run, score
from tests.test_cli import assert_one_line_error, cli


class OracleReranker:
    """Scores a (query, document) pair 1 when the judgments say the document is relevant: a perfect reranker."""

    def __init__(self, data, qrels):
        self.relevant = {(data.queries[q], data.document(d)) for q, docs in qrels.items() for d, r in docs.items()
                         if r > 0}

    def predict(self, pairs, batch_size=32, show_progress_bar=False):
        return [float(tuple(p) in self.relevant) for p in pairs]


def test_a_perfect_reranker_puts_every_relevant_document_of_the_top_k_first(beir):
    data = load_retrieval(beir)
    qrels = data.split("test")
    queries = sorted(qrels)
    first, _ = bm25_run(data, queries)
    reranked, timing = rerank_run(OracleReranker(data, qrels), data, first, queries, top_k=5)
    for q in queries:
        top5 = sorted(first[q], key=lambda d: -first[q][d])[:5]
        assert set(reranked[q]) == set(top5)
        best = max(reranked[q], key=reranked[q].get) if reranked[q] else None
        assert (best in qrels[q]) == any(d in qrels[q] for d in top5)  # found in the top 5 -> ranked first
    # one relevant document per query: reranked MRR@10 is the share of queries whose document is in the top 5
    found = sum(any(d in qrels[q] for d in sorted(first[q], key=lambda d: -first[q][d])[:5]) for q in queries)
    assert score(qrels, reranked)["mrr@10"] == pytest.approx(found / len(queries), abs=1e-4)
    assert timing["queries"] >= 0 and timing["index"] == 0


def test_a_plain_encoder_gets_a_seeded_head_with_a_warning(tiny_bert, caplog):
    pairs = [("nurse", "registered nurse"), ("nurse", "tax lawyer")]
    first = load_cross_encoder(str(tiny_bert), 32).predict(pairs, show_progress_bar=False)
    again = load_cross_encoder(str(tiny_bert), 32).predict(pairs, show_progress_bar=False)
    assert first == pytest.approx(again, abs=1e-6)
    assert "new scoring head is added, untrained" in caplog.text


def test_compare_systems_adds_a_reranked_row_per_first_stage(beir, tiny_bert):
    from domaintune.models import load_sentence_model

    data = load_retrieval(beir)
    table = compare_systems(data, "test", {"tiny": load_sentence_model(str(tiny_bert), 32)},
                            rerankers={"ce": load_cross_encoder(str(tiny_bert), 32)}, rerank_top_k=10)
    assert list(table) == ["bm25", "bm25 > rerank ce (top 10)", "tiny", "tiny > rerank ce (top 10)",
                           "hybrid (bm25 + tiny)"]
    # the reranker reorders the first stage's top 10 only: what is found in the top 10 is unchanged
    for stage in ("bm25", "tiny"):
        assert table[f"{stage} > rerank ce (top 10)"]["recall@10"] == pytest.approx(table[stage]["recall@10"])
        assert table[f"{stage} > rerank ce (top 10)"]["seconds"] >= table[stage]["seconds"]


def test_rerank_command_ranks_the_candidates_and_refuses_bad_input(tiny_bert, tmp_path):
    cands = tmp_path / "candidates.txt"
    cands.write_text("registered nurse\ntax lawyer\n\nwelder\n")
    ranked = api.rerank(str(tiny_bert), "nurse", input=cands)
    assert sorted(r["index"] for r in ranked) == [0, 1, 2] and [r["text"] for r in ranked if r["index"] == 2] == [
        "welder"]
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    res = cli("rerank", tiny_bert, "--query", "nurse", "--candidates", cands, "--top", "2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "rank" in res.stdout and res.stdout.count("nurse") >= 1
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert_one_line_error(cli("rerank", tiny_bert, "--query", "nurse", "--candidates", empty), "empty.txt",
                          "no candidate texts")
    assert_one_line_error(cli("rerank", tiny_bert, "--query", "nurse", "--candidates", tmp_path / "nope.txt"),
                          "nope.txt", "not found")
