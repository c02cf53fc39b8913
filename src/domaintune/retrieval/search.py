"""Search a retrieval set three ways and score each the same way: BM25 (bm25s), a dense encoder (any embedding
predictor; sentence-transformers' chunked `semantic_search`), and their reciprocal-rank fusion (ranx). Metrics by
ranx: nDCG@10, MAP@100, MRR@10, Recall@10, Recall@100.

A run is {query id: {doc id: score}}, the top `k` documents of each query. Graded relevance: nDCG takes the grade
as a linear gain (grade / log2(rank + 1), as trec_eval and so BEIR and MTEB count it); MAP, MRR and Recall count a
document as relevant when its grade is >= 1 (judged-0 documents count as not relevant, as unjudged ones do).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from domaintune.retrieval.data import RetrievalData

log = logging.getLogger("domaintune")

METRICS = ("ndcg@10", "map@100", "mrr@10", "recall@10", "recall@100")
PRIMARY = "ndcg@10"
DEPTH = 100  # documents kept per query: enough for Recall@100 and MAP@100, and for fusion


def score(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """The metrics of a run over the judged queries that have a relevant document (ranx)."""
    from ranx import Qrels, Run, evaluate

    judged = {q: {d: r for d, r in docs.items() if r > 0} for q, docs in qrels.items()}
    judged = {q: docs for q, docs in judged.items() if docs}
    ranked = {q: run.get(q) or {"": 0.0} for q in judged}  # a query with no result scores 0, not skipped
    values = evaluate(Qrels(judged), Run(ranked), list(METRICS))
    return {m: round(float(values[m]), 4) for m in METRICS}


def timing(t0: float, t1: float, t2: float) -> dict:
    """Seconds to index the corpus, to answer the queries, and both."""
    return {"index": round(t1 - t0, 3), "queries": round(t2 - t1, 3), "total": round(t2 - t0, 3)}


def bm25_run(data: RetrievalData, query_ids: list[str], k: int = DEPTH, stopwords: str = "en") -> tuple[dict, dict]:
    """BM25 (bm25s, Lucene's variant, k1 1.5, b 0.75) over title + text, stop words removed; (run, timing)."""
    import bm25s

    t0 = time.perf_counter()
    doc_ids = list(data.corpus)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([data.document(d) for d in doc_ids], stopwords=stopwords, show_progress=False),
                    show_progress=False)
    t1 = time.perf_counter()
    tokens = bm25s.tokenize([data.queries[q] for q in query_ids], stopwords=stopwords, show_progress=False)
    found, scores = retriever.retrieve(tokens, k=min(k, len(doc_ids)), show_progress=False)
    run = {q: {doc_ids[int(i)]: float(s) for i, s in zip(found[n], scores[n], strict=True) if s > 0}
           for n, q in enumerate(query_ids)}
    return run, timing(t0, t1, time.perf_counter())


def default_prompts(model) -> tuple[str | None, str | None]:
    """The model's own query and document prompts (sentence-transformers' `prompts`: "query", and "document" or
    "passage"), or None for each it lacks (its default prompt then applies, if it has one)."""
    prompts = getattr(model, "prompts", None) or {}
    return prompts.get("query"), prompts.get("document", prompts.get("passage"))


def dense_run(model, data: RetrievalData, query_ids: list[str], k: int = DEPTH, batch_size: int = 32,
              query_prompt: str | None = None, document_prompt: str | None = None,
              corpus_chunk: int = 50_000) -> tuple[dict, dict]:
    """Cosine top-k of each query among all documents; the score matrix is built `corpus_chunk` documents at a
    time (sentence-transformers' semantic_search), so memory grows with the corpus only through its embeddings."""
    from sentence_transformers.util import semantic_search

    t0 = time.perf_counter()
    own_query, own_doc = default_prompts(model)
    qp, dp = query_prompt if query_prompt is not None else own_query, (
        document_prompt if document_prompt is not None else own_doc)
    doc_ids = list(data.corpus)
    docs = encode(model, [data.document(d) for d in doc_ids], dp, batch_size)
    t1 = time.perf_counter()
    queries = encode(model, [data.queries[q] for q in query_ids], qp, batch_size)
    hits = semantic_search(queries, docs, query_chunk_size=100, corpus_chunk_size=corpus_chunk,
                           top_k=min(k, len(doc_ids)), score_function=similarity_scores)
    run = {q: {doc_ids[h["corpus_id"]]: float(h["score"]) for h in found} for q, found in zip(query_ids, hits,
                                                                                            strict=True)}
    return run, timing(t0, t1, time.perf_counter())


def similarity_scores(queries, docs):
    """Cosine of unit-length embeddings: one [query chunk x corpus chunk] matrix at a time."""
    return queries @ docs.T


def encode(model, texts: list[str], prompt: str | None, batch_size: int):
    """Unit-length embeddings as a torch tensor; `prompt` is put before each text (None: the model's default)."""
    import torch

    if prompt is not None:
        texts = [prompt + t for t in texts]
        kwargs = {"prompt": ""} if getattr(model, "prompts", None) is not None else {}  # no default on top
    else:
        kwargs = {}
    emb = np.asarray(model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False, **kwargs), dtype=np.float32)
    return torch.from_numpy(emb)


def rerank_run(reranker, data: RetrievalData, run: dict, query_ids: list[str], top_k: int = DEPTH,
               batch_size: int = 32) -> tuple[dict, dict]:
    """A first stage's top_k documents of each query scored again by a cross-encoder (`predict` on (query,
    document) pairs, the document being its title plus its text), best first; (run, timing). The first stage's
    other documents are dropped, so Recall@top_k is the first stage's. Query by query, as a search service reranks."""
    t0 = time.perf_counter()
    out = {}
    for q in query_ids:
        docs = [d for d, _ in sorted(run.get(q, {}).items(), key=lambda x: -x[1])[:top_k]]
        scores = reranker.predict([(data.queries[q], data.document(d)) for d in docs], batch_size=batch_size,
                                  show_progress_bar=False) if docs else []
        out[q] = {d: float(s) for d, s in zip(docs, scores, strict=True)}
    return out, timing(t0, t0, time.perf_counter())


def fuse(runs: list[dict], k: int = DEPTH) -> tuple[dict, float]:
    """Reciprocal-rank fusion (ranx, k=60) of runs over the same queries; (run, seconds)."""
    from ranx import Run
    from ranx import fuse as ranx_fuse

    t = time.perf_counter()
    fused = ranx_fuse([Run({q: docs or {"": 0.0} for q, docs in r.items()}) for r in runs], norm=None,
                      method="rrf").to_dict()
    top = {q: dict(sorted(docs.items(), key=lambda x: -x[1])[:k]) for q, docs in fused.items()}
    return {q: {d: s for d, s in docs.items() if d} for q, docs in top.items()}, round(time.perf_counter() - t, 2)
