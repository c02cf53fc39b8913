"""Positive-only pairs (ESCO alternative label -> preferred label) trained with in-batch negatives, with and without
hard negatives mined by the base model, side by side in one run.

    python bench/hard_negatives.py          # shipped data only; writes bench/out/hard_negatives/ (about 15 minutes)

Pairs come from the *training* occupations of domaintune's taxonomy split (seed 13); validation uses the graded
pairs of the validation occupations; held-out retrieval (an alternative label of a test occupation finds its
preferred label among all occupations) and STSb test judge the result. Both runs: the demo's optimiser settings
(batch 64, lr 8e-5, one epoch, embeddings frozen). Mining: `training.mine_hard_negatives` with its defaults (one
negative per pair from ranks 10-50 of the base model's ranking, 5% relative margin).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from domaintune import api
from domaintune.similarity.recipe import TaxonomyConfig
from domaintune.similarity.taxonomy import build_pairs, load_taxonomy, split_concepts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import matmul_ceiling  # noqa: E402

OUT = HERE / "out" / "hard_negatives"
SETTINGS = ["training.loss=in_batch_negatives", "training.batch_size=64", "training.learning_rate=8e-5",
            "training.epochs=1", "model.freeze_embeddings=true", "evaluation.retrieval=false"]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    graded = OUT / "graded"
    if not (graded / "validation.csv").exists():
        build_pairs(TaxonomyConfig(), graded)
    split = split_concepts(load_taxonomy(TaxonomyConfig()), 0.1, 0.2, 13)
    pairs = pd.DataFrame([(alt, c.preferred) for c in split["train"] for alt in c.alternatives],
                         columns=["text_a", "text_b"]).assign(score=1.0)
    pairs_file = OUT / "alternative_to_preferred_train.csv"
    pairs.to_csv(pairs_file, index=False)
    print(f"{len(pairs)} positive pairs (alternative -> preferred) of {len(split['train'])} training occupations")
    results: dict = {"positive_pairs": len(pairs), "matmul_gflops": matmul_ceiling(2),
                     "base": api.evaluate("all-MiniLM-L6-v2", taxonomy="builtin:esco_en")["retrieval"]}
    for name, extra in (("in-batch negatives", []), ("+ mined hard negatives", ["training.mine_hard_negatives=true"])):
        folder = OUT / ("mined" if extra else "plain")
        t = time.perf_counter()
        m = api.train(None, [f"data.train={pairs_file}", f"data.validation={graded / 'validation.csv'}",
                             f"data.test={graded / 'test.csv'}", *SETTINGS, *extra, f"output.dir={folder}"],
                      overwrite=True, show_progress=False)
        wall = time.perf_counter() - t
        after = api.evaluate(str(folder / "model"), taxonomy="builtin:esco_en")
        results[name] = {"retrieval_mrr@10": round(after["retrieval"]["mrr@10"], 4),
                         "retrieval_recall@1": round(after["retrieval"]["recall@1"], 4),
                         "stsb_test": round(after["stsb_test"]["spearman"], 4),
                         "domain_test_spearman": round(m["after"]["domain_test"]["spearman"], 4),
                         "training_rows": m["run"]["train_pairs"], "train_seconds": m["training"]["seconds"],
                         "mining_seconds": m["timings"].get("mining", 0.0), "run_wall_seconds": round(wall, 1)}
        print(name, results[name], flush=True)
    (OUT / "hard_negatives.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
