"""Augmentation ablation: EDA off vs on, full fine-tuning on a 1,000-sentence SST-2 subset, 3 seeds each,
side by side in one run.

    python bench/augmentation.py           # reads ../shared/datasets/sst2, writes bench/out/augmentation/

Training rows: 1,000 (seeded), validation: 500 more, test: GLUE dev (872). all-MiniLM-L6-v2, max_length 64,
3 epochs, batch 32, lr 5e-5. "on" = one perturbed copy per row (swap 0.1, delete 0.1; synonym replacement and
insertion only where a synonym source exists: nltk WordNet data or a user table, neither here).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune import api

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
OUT = ROOT / "bench" / "out" / "augmentation"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    train = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str).sample(n=1500, random_state=1)
    train.iloc[:1000].to_csv(OUT / "train.csv", index=False)
    train.iloc[1000:].to_csv(OUT / "validation.csv", index=False)
    results: dict[str, list] = {"off": [], "on": []}
    for seed in (0, 1, 2):
        for cond in ("off", "on"):
            start = time.perf_counter()
            m = api.train(None, [
                "task=classification", "strategy=full", "model.max_seq_length=64", "data.columns.text=sentence",
                f"data.train={OUT / 'train.csv'}", f"data.validation={OUT / 'validation.csv'}",
                f"data.test={SST2 / 'dev.tsv'}", f"data.augmentation.enabled={cond == 'on'}",
                f"data.augmentation.seed={seed}", f"training.seed={seed}", "training.epochs=3",
                "training.eval_steps=50", "evaluation.linear_probe=false", "training.tensorboard=false",
                f"output.dir={OUT / f'{cond}_{seed}'}"], overwrite=True, show_progress=False)
            results[cond].append({"seed": seed, "test_accuracy": m["after"]["test"]["accuracy"],
                                  "seconds": round(time.perf_counter() - start, 1)})
    print("| augmentation | test accuracy (mean ± std, 3 seeds) | per seed | wall s (mean) |")
    print("|---|---|---|---|")
    for cond, rs in results.items():
        acc = np.array([r["test_accuracy"] for r in rs])
        print(f"| {cond} | {acc.mean():.4f} ± {acc.std():.4f} | {', '.join(f'{a:.4f}' for a in acc)} | "
              f"{np.mean([r['seconds'] for r in rs]):.1f} |")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
