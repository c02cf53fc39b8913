"""Long inputs: head vs tail vs head+tail truncation on IMDB reviews, side by side in one run.

    python bench/imdb_truncation.py        # reads ../shared/datasets/imdb, writes bench/out/imdb/

A seeded 5,000-review training subset (500 more for validation) and a seeded 5,000-review sample of the
test set; all-MiniLM-L6-v2, 128 tokens (most reviews are longer), strategy frozen (features once,
logistic regression with C picked on validation): the same run three times, only model.truncation differs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from domaintune import api

ROOT = Path(__file__).resolve().parents[1]
IMDB = ROOT.parent / "shared" / "datasets" / "imdb"
OUT = ROOT / "bench" / "out" / "imdb"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    train = pd.read_csv(IMDB / "train.csv.gz", dtype=str).sample(n=5500, random_state=0)[["text", "label"]]
    test = pd.read_csv(IMDB / "test.csv.gz", dtype=str).sample(n=5000, random_state=0)[["text", "label"]]
    train.iloc[:5000].to_csv(OUT / "train.csv", index=False)
    train.iloc[5000:].to_csv(OUT / "validation.csv", index=False)
    test.to_csv(OUT / "test.csv", index=False)
    results = {}
    for mode in ("head", "tail", "head+tail"):
        start = time.perf_counter()
        m = api.train(None, [
            "task=classification", "strategy=frozen", "model.max_seq_length=128", f"model.truncation={mode}",
            f"data.train={OUT / 'train.csv'}", f"data.validation={OUT / 'validation.csv'}",
            f"data.test={OUT / 'test.csv'}", "evaluation.linear_probe=false", f"frozen.cache_dir={OUT / 'cache'}",
            f"output.dir={OUT / mode.replace('+', '_')}"], overwrite=True, show_progress=False)
        results[mode] = {"test_accuracy": round(m["after"]["test"]["accuracy"], 4),
                         "test_macro_f1": round(m["after"]["test"]["macro_f1"], 4),
                         "truncated_training_rows": m["run"]["truncated_training_rows"],
                         "seconds": round(time.perf_counter() - start, 1)}
    head = results["head"]["test_accuracy"]
    print("| truncation | test accuracy | vs head | macro-F1 | truncated training rows | wall s |")
    print("|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['test_accuracy']:.4f} | {100 * (r['test_accuracy'] - head):+.2f} pt | "
              f"{r['test_macro_f1']:.4f} | {r['truncated_training_rows']:,} of 5,000 | {r['seconds']} |")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
