"""Continued MLM pretraining on ESCO occupation descriptions, then the job-title similarity task, side by side
with the similarity task alone, in one run; plus the check that the encoder itself adapted.

    python bench/mlm_then_similarity.py      # reads ../shared/datasets/esco, writes bench/out/mlm/

Occupations are split as domaintune's taxonomy split does (seed 13: 70% train, 10% validation, 20% test), and
only the *training* occupations' descriptions are used for MLM; the test occupations' descriptions are the
held-out domain text, so neither perplexity nor the later retrieval test leaks.

1. A pipeline recipe [mlm, similarity] and the similarity stage alone on the original model (the pipeline runs
   both and reports both).
2. Same data and steps as the pipeline's MLM stage: the MLM head alone (encoder frozen) vs full continued
   pretraining. all-MiniLM-L6-v2 has no pretrained MLM head, so both start from a fresh head; the head-only run
   is the honest baseline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from domaintune import api
from domaintune.similarity.recipe import TaxonomyConfig
from domaintune.similarity.taxonomy import load_taxonomy, split_concepts

ROOT = Path(__file__).resolve().parents[1]
ESCO = ROOT.parent / "shared" / "datasets" / "esco"
OUT = ROOT / "bench" / "out" / "mlm"
MLM = {"training": {"max_steps": 300, "eval_steps": 100, "batch_size": 16, "learning_rate": 1.0e-4},
       "model": {"max_seq_length": 128}}
SIMILARITY = {"task": "similarity",  # the demo's settings, 150 steps to keep the bench short
              "data": {"taxonomy": {"path": "builtin:esco_en", "pairs_per_concept": 8}},
              "model": {"freeze_embeddings": True},
              "training": {"loss": "in_batch_negatives", "batch_size": 64, "learning_rate": 8.0e-5, "max_steps": 150,
                           "eval_steps": 50}}


def corpus() -> tuple[Path, Path]:
    split = split_concepts(load_taxonomy(TaxonomyConfig()), 0.1, 0.2, 13)
    train_ids, test_ids = {c.id for c in split["train"]}, {c.id for c in split["test"]}
    esco = pd.read_csv(ESCO / "occupations_en_v1.2.0.csv", dtype=str, keep_default_na=False)
    esco["id"] = esco.conceptUri.str.rsplit("/", n=1).str[-1].str[:8]
    OUT.mkdir(parents=True, exist_ok=True)
    train, test = OUT / "descriptions_train.txt", OUT / "descriptions_test.txt"
    train.write_text("\n".join(" ".join(d.split()) for d in esco[esco.id.isin(train_ids)].description) + "\n")
    test.write_text("\n".join(" ".join(d.split()) for d in esco[esco.id.isin(test_ids)].description) + "\n")
    return train, test


def main() -> None:
    train, test = corpus()
    mlm = {"task": "mlm", "data": {"train": str(train), "validation": str(test)}, **MLM}
    # the pipeline: mlm (full continued pretraining) -> similarity, and the similarity stage alone on the base
    pipeline = api.train(None, ["task=pipeline", f"stages={json.dumps([mlm, SIMILARITY])}",
                                f"output.dir={OUT / 'pipeline'}"], overwrite=True, show_progress=False)
    full = json.loads((OUT / "pipeline" / "1-mlm" / "metrics.json").read_text())
    # the same MLM stage with the encoder frozen: only the (fresh) head trains
    head = api.train(None, [f"{k}={json.dumps(v)}" for k, v in {**mlm, "mlm": {"train_head_only": True},
                                                               "output": {"dir": str(OUT / "head_only")}}.items()],
                     overwrite=True, show_progress=False)
    results = {}
    for name, m in (("head only (encoder frozen)", head), ("full continued pretraining", full)):
        results[name] = {ev: round(v["perplexity"], 2) for ev, v in m["after"].items()}
        results[name]["before"] = round(m["before"]["domain_validation"]["perplexity"], 2)
        results[name]["trainable"] = m["run"]["parameters"]["trainable"]
    print(f"| MLM run ({MLM['training']['max_steps']} steps, same data) | held-out ESCO perplexity (before) | "
          "STSb sentences perplexity | trainable parameters |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['domain_validation']:.2f} ({r['before']:.2f}) | {r['general_stsb']:.2f} | "
              f"{r['trainable']:,} |")
    h = results["head only (encoder frozen)"]["domain_validation"]
    f = results["full continued pretraining"]["domain_validation"]
    print(f"\nfull vs head only: held-out domain perplexity {100 * (f - h) / h:+.1f}%")
    cmp = pipeline["pipeline_vs_alone"]
    print("\n| eval | metric | similarity alone | mlm -> similarity | difference |\n|---|---|---|---|---|")
    for ev, ms in cmp["pipeline"].items():
        for k, v in ms.items():
            print(f"| {ev} | {k} | {cmp['alone'][ev][k]:.4f} | {v:.4f} | {cmp['delta'][ev][k]:+.4f} |")
    (OUT / "results.json").write_text(json.dumps({"mlm": results, "pipeline_vs_alone": cmp}, indent=2))


if __name__ == "__main__":
    main()
