"""Adaptation without labels on ESCO job titles, side by side in one run: base vs MLM vs TSDAE vs SimCSE, then each
(and nothing) before the demo's supervised similarity task.

    python bench/unsupervised.py            # shipped data only; writes bench/out/unsupervised/ (about 30 minutes)

The raw domain text is every label (preferred and alternative) of the *training* occupations of domaintune's
taxonomy split (seed 13: 70% train, 10% validation, 20% test), one per line, with no concept ids. The held-out
retrieval test (an alternative label of a test occupation finds its preferred label among all 3,039 occupations)
therefore never saw its queries or answers, labelled or not.

Part A, the encoder alone (all-MiniLM-L6-v2, each run's defaults for its objective, one epoch over the titles):
held-out retrieval MRR@10, STSb test and dev Spearman (general ability: the SICK benchmark is not available here,
so STSb dev and test stand for it). Part B: the demo's similarity task (`domaintune demo` settings) on the base
model, on the TSDAE model and on the MLM model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from domaintune import api
from domaintune.similarity.recipe import TaxonomyConfig
from domaintune.similarity.taxonomy import load_taxonomy, split_concepts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import matmul_ceiling  # noqa: E402

OUT = HERE / "out" / "unsupervised"
EVAL = ["evaluation.stsb=true", "evaluation.retrieval_max_queries=2000"]
TAXONOMY = {"data.taxonomy.path": "builtin:esco_en"}  # evaluation only: held-out retrieval, validation concepts


def titles() -> Path:
    split = split_concepts(load_taxonomy(TaxonomyConfig()), 0.1, 0.2, 13)
    lines = [t for c in split["train"] for t in c.labels]
    path = OUT / "titles_train_concepts.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def scores(metrics: dict) -> dict:
    return {"retrieval_mrr@10": round(metrics["retrieval"]["mrr@10"], 4),
            "stsb_test": round(metrics["stsb_test"]["spearman"], 4),
            "stsb_dev": round(metrics["stsb_dev"]["spearman"], 4)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = titles()
    n_titles = len(corpus.read_text().splitlines())
    print(f"corpus: {n_titles} job titles of the training occupations", flush=True)
    results: dict = {"corpus_titles": n_titles, "matmul_gflops": matmul_ceiling(2)}

    def train(name: str, overrides: list[str]) -> tuple[dict, float]:
        t = time.perf_counter()
        m = api.train(None, [*overrides, f"output.dir={OUT / name}"], overwrite=True, show_progress=False)
        return m, round(time.perf_counter() - t, 1)

    # A. the encoder alone
    part_a = {"base": {**scores(api.evaluate("all-MiniLM-L6-v2", taxonomy="builtin:esco_en")), "train_seconds": 0}}
    taxonomy = [f"{k}={v}" for k, v in TAXONOMY.items()]
    for task, extra in (("tsdae", []), ("simcse", [])):
        m, seconds = train(task, [f"task={task}", f"data.train={corpus}", *taxonomy, *EVAL, *extra])
        part_a[task] = {**scores(m["after"]), "train_seconds": m["training"]["seconds"], "wall_seconds": seconds,
                        "steps": m["training"]["global_step"]}
        print(task, part_a[task], flush=True)
    m, seconds = train("mlm", ["task=mlm", f"data.train={corpus}", "mlm.packing=line_by_line",
                               "evaluation.general_text=false"])
    part_a["mlm"] = {**scores(api.evaluate(str(OUT / "mlm" / "model"), taxonomy="builtin:esco_en")),
                     "train_seconds": m["training"]["seconds"], "wall_seconds": seconds,
                     "steps": m["training"]["global_step"]}
    print("mlm", part_a["mlm"], flush=True)
    results["encoder_alone"] = part_a

    # B. then the demo's supervised similarity task
    part_b = {}
    demo = list(api.DEMO_OVERRIDES)
    for name, base in (("similarity alone", "all-MiniLM-L6-v2"), ("tsdae -> similarity", str(OUT / "tsdae" / "model")),
                       ("mlm -> similarity", str(OUT / "mlm" / "model"))):
        m, seconds = train("then-" + name.split()[0], [*demo, f"model.name={base}"])
        part_b[name] = {**scores(m["after"]), "train_seconds": m["training"]["seconds"]}
        print(name, part_b[name], flush=True)
    results["then_similarity"] = part_b
    (OUT / "unsupervised.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
