"""Search on the user's own data: retrieval sets (queries, corpus, judgments), BM25, dense and hybrid runs, IR
metrics, and an evaluator any embedding task can report with."""
