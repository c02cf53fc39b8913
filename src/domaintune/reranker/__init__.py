"""task: reranker: a cross-encoder trained on your search judgments to rerank a first stage's candidates."""
