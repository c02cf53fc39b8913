"""Silver pairs (Augmented SBERT; Thakur et al., NAACL 2021) from judgments, one recipe switch
(`data.silver.enabled`):

1. a cross-encoder (reranker.trainer, the base encoder with a new one-score head) trains on the gold judgments,
   with BM25 hard negatives, its best checkpoint picked on the same validation queries as the bi-encoder;
2. it scores the BM25 top `candidates` of each unlabelled query (`silver.queries`, or the train queries that
   `data.max_train_queries` left out, their judgments unused);
3. each query's best candidate, when its 0-1 score reaches `min_score`, is a silver (query, document) pair; the
   silver pairs join the gold ones that train the bi-encoder. None reaching it is said in the log and the report
   (the cross-encoder was too weak a judge), not passed over.

Cached: the cross-encoder's checkpoints in RUN/silver/ (a killed run resumes its training) and every scored query's
best candidate in RUN/data/silver_pairs.csv, its record (validation nDCG@10, seconds) in silver_pairs.json (a
resumed run neither trains nor scores again).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.core import distributed
from domaintune.core.io import atomic_write_text
from domaintune.core.recipe import ModelConfig
from domaintune.errors import DomaintuneError
from domaintune.models import load_cross_encoder
from domaintune.reranker.data import RerankerData, first_stage_runs, top
from domaintune.reranker.recipe import (
    RerankerDataConfig,
    RerankerEvaluationConfig,
    RerankerOutputConfig,
    RerankerRecipe,
)
from domaintune.reranker.trainer import train
from domaintune.similarity.judgments import judged_splits

log = logging.getLogger("domaintune")


def unlabelled_queries(recipe) -> dict[str, str]:
    """{id: text} of the queries to label: silver.queries (a .txt or a table's `text` column), else the train
    queries left out by data.max_train_queries. Refused before the run starts when there are none."""
    s = recipe.data.silver
    data, _, _, _, left_out = judged_splits(recipe)
    if s.queries is None:
        if not left_out:
            raise DomaintuneError("data.silver: no unlabelled queries; set data.silver.queries (a .txt or a table "
                                  "with a text column), or data.max_train_queries below the number of train queries")
        return {q: data.queries[q] for q in left_out}
    from domaintune.core.tables import read_table

    path = Path(s.queries)
    if path.suffix.lower() == ".txt":
        texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        table = read_table(str(path))
        if "text" not in table.columns:
            raise DomaintuneError(f"{path}: no 'text' column (found {list(table.columns)})")
        texts = [str(t).strip() for t in table["text"] if str(t).strip()]
    if not texts:
        raise DomaintuneError(f"{path}: no queries")
    return {f"silver-{k}": t for k, t in enumerate(dict.fromkeys(texts))}


def reranker_recipe(recipe, folder: Path) -> RerankerRecipe:
    s, d = recipe.data.silver, recipe.data
    return RerankerRecipe(
        model=ModelConfig(name=recipe.model.name, max_seq_length=s.max_seq_length),
        data=RerankerDataConfig(retrieval=d.retrieval, negatives_per_query=s.negatives_per_query,
                                on_bad_rows=recipe.evaluation.retrieval_on_bad_rows),
        training=s.training, evaluation=RerankerEvaluationConfig(batch_size=recipe.evaluation.batch_size,
                                                                 top_k=s.candidates),
        output=RerankerOutputConfig(dir=str(folder)))


def silver_for_run(run, train_df: pd.DataFrame, recipe, resume: bool, show_progress: bool, source: str):
    """(gold + silver training pairs, the data's description, the number of silver pairs, a warning or None).
    The cache holds every scored query's best candidate; min_score picks the silver pairs among them."""
    path, min_score = run.dir / "data" / "silver_pairs.csv", recipe.data.silver.min_score
    with run.timed("silver"):
        if not distributed.from_main(path.exists):
            labelled, teacher = label(recipe, run.dir / "silver", resume, show_progress)  # every process trains it
            distributed.main_first(lambda: path.exists() or write_pairs(labelled, teacher, path))
        scored = pd.read_csv(path, dtype={"text_a": str, "text_b": str}, keep_default_na=False)
    silver = scored[scored["silver_score"] >= min_score - 1e-9]
    log.info("silver pairs: %d of %d scored queries (cross-encoder score >= %s) added to %d gold pairs", len(silver),
             len(scored), min_score, len(train_df))
    warning = None
    if silver.empty:
        teacher = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
        warning = (f"No silver pairs: no query's best candidate reached data.silver.min_score {min_score} (highest "
                   f"{scored['silver_score'].max() if len(scored) else 'none'} of {len(scored)} queries; the "
                   f"cross-encoder's best validation nDCG@10 {teacher.get('validation_ndcg@10')}), so the bi-encoder "
                   "trained on the gold pairs alone. A cross-encoder trained from a plain encoder on few gold "
                   "queries is a weak judge: give it more gold queries or epochs, or lower min_score.")
        log.warning(warning)
    rows = pd.concat([train_df, silver.assign(score=1.0)[["text_a", "text_b", "score"]]], ignore_index=True)
    return (rows, source + f", plus {len(silver)} silver pairs labelled by a cross-encoder trained on them",
            len(silver), warning)


def label(recipe, folder: Path, resume: bool, show_progress: bool) -> tuple[pd.DataFrame, dict]:
    """Train the cross-encoder on the gold judgments, then score the unlabelled queries' BM25 candidates; (each
    query's best candidate and its score, the cross-encoder's record)."""
    s = recipe.data.silver
    pool = unlabelled_queries(recipe)
    data, gold, val, held, _ = judged_splits(recipe)
    data = dataclasses.replace(data, queries={**data.queries, **pool})
    rr = reranker_recipe(recipe, folder)
    rd = RerankerData(data, gold, val, {}, held)
    first, _ = first_stage_runs(rr, rd, sorted({*gold, *val, *pool}))
    model = load_cross_encoder(recipe.model.name, s.max_seq_length, recipe.training.seed)
    stats = train(model, rr, rd, first, folder, resume, show_progress)
    log.info("silver: cross-encoder trained in %.0f s (best validation nDCG@10 %s); scoring %d queries x %d "
             "candidates", stats["seconds"], stats.get("best_validation_metric"), len(pool), s.candidates)
    rows = []
    for q in sorted(pool):
        docs = top(first, q, s.candidates)
        if not docs:
            continue
        scores = np.asarray(model.predict([(pool[q], data.document(d)) for d in docs], show_progress_bar=False,
                                          batch_size=recipe.evaluation.batch_size)).reshape(-1)
        best = int(np.argmax(scores))
        rows.append({"text_a": pool[q], "text_b": data.document(docs[best]), "silver_score":
                     round(float(scores[best]), 4), "query_id": q, "corpus_id": docs[best]})
    teacher = {"validation_ndcg@10": stats.get("best_validation_metric"), "train_seconds": stats["seconds"],
               "scored_queries": len(rows), "candidates": s.candidates}
    return pd.DataFrame(rows, columns=["text_a", "text_b", "silver_score", "query_id", "corpus_id"]), teacher


def write_pairs(rows: pd.DataFrame, teacher: dict, path: Path) -> None:
    """RUN/data/silver_pairs.csv (every scored query's best candidate) and, beside it, the cross-encoder's record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path.with_suffix(".json"), json.dumps(teacher, indent=2))
    atomic_write_text(path, rows.to_csv(index=False))
