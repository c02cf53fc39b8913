"""The retrieval evaluator: sentence-transformers' metrics, and per-query ranks from the same embeddings."""

from __future__ import annotations

import numpy as np


def test_ranks_come_from_the_evaluation_pass_and_match_brute_force(tiny_bert):
    from domaintune.models import load_sentence_model
    from domaintune.similarity.evaluation import RetrievalEvaluator

    model = load_sentence_model(str(tiny_bert), 32)
    corpus = {f"d{i}": t for i, t in enumerate(["nurse", "data engineer", "cook", "pilot", "welder", "judge"])}
    queries = {"q0": "registered nurse", "q1": "big data engineer", "q2": "chef", "q3": "airline pilot"}
    relevant = {"q0": {"d0"}, "q1": {"d1"}, "q2": {"d2"}, "q3": {"d3", "d4"}}
    evaluator = RetrievalEvaluator(queries, corpus, relevant, keep_ranks=True)

    calls = []
    encode = model.encode
    def counting(*a, **k):
        calls.append(len(a[0] if a else k.get("inputs", k.get("sentences"))))
        return encode(*a, **k)

    model.encode = counting
    result = evaluator.evaluate(model)
    assert calls == [len(queries), len(corpus)]  # one pass each: the ranks did not encode again

    model.encode = encode
    q = encode(list(queries.values()), normalize_embeddings=True)
    d = encode(list(corpus.values()), normalize_embeddings=True)
    scores = q @ d.T
    ids = list(corpus)
    expected = {}
    for row, qid in enumerate(queries):
        best = max(scores[row, ids.index(doc)] for doc in relevant[qid])
        expected[qid] = int((scores[row] > best + 1e-6).sum()) + 1
    assert result.details["ranks"] == expected
    reciprocal = [1 / r if r <= 10 else 0 for r in expected.values()]
    assert np.isclose(result.metrics["mrr@10"], np.mean(reciprocal), atol=1e-6)
    assert evaluator.st_evaluator.kept is None  # nothing held after the evaluation


def test_api_evaluate_scores_any_encoder_and_never_overwrites_its_output(tiny_bert, tiny_taxonomy, tmp_path):
    import json

    import pytest

    from domaintune import api
    from domaintune.errors import DomaintuneError

    out = tmp_path / "eval.json"
    results = api.evaluate(str(tiny_bert), taxonomy=str(tiny_taxonomy), stsb=False,
                           overrides=["evaluation.retrieval_max_queries=50", "model.max_seq_length=32"], output=out)
    assert set(results["retrieval"]) == {"mrr@10", "recall@1", "recall@10", "map"}
    assert json.loads(out.read_text()) == results
    with pytest.raises(DomaintuneError, match="exists; pass --overwrite"):
        api.evaluate(str(tiny_bert), stsb=False, output=out)
