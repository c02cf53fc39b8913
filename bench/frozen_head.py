"""Frozen encoder + head: the tutorial's way (the frozen encoder runs again on every batch of every epoch)
against domaintune's (features once, cached; then the head), side by side in one run.

    python bench/frozen_head.py            # reads ../shared/datasets/sst2, writes bench/out/frozen_head/

Data: 5,000 SST-2 training sentences (seeded), 500 more for domaintune's validation (C / MLP epoch choice),
GLUE dev (872) as the test. all-MiniLM-L6-v2, max_length 64, batch 32, 5 epochs for the MLP heads.
Every domaintune variant gets its own empty feature cache, so its time includes encoding.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
OUT = ROOT / "bench" / "out" / "frozen_head"


def data():
    train = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
    dev = pd.read_csv(SST2 / "dev.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
    pick = train.sample(n=5500, random_state=0).rename(columns={"sentence": "text"})
    dev = dev.rename(columns={"sentence": "text"})
    OUT.mkdir(parents=True, exist_ok=True)
    pick.iloc[:5000].to_csv(OUT / "train.csv", index=False)
    pick.iloc[5000:].to_csv(OUT / "validation.csv", index=False)
    dev.to_csv(OUT / "test.csv", index=False)
    return pick.iloc[:5000], dev


def tutorial(train: pd.DataFrame, test: pd.DataFrame, epochs: int = 5) -> dict:
    """The tutorial: encoder frozen (no gradient) but in train mode, so dropout is on; recomputed per batch."""
    from transformers import AutoModel, AutoTokenizer

    from domaintune.classification.heads import MLPHead
    from domaintune.models import encoder_folder

    torch.manual_seed(0)
    folder = encoder_folder("all-MiniLM-L6-v2")
    tok, enc = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder))
    for p in enc.parameters():
        p.requires_grad = False
    head = MLPHead(enc.config.hidden_size, 2, 512, 0.1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    texts, y = train.text.tolist(), torch.tensor(train.label.astype(int).to_numpy())

    def embed(batch):
        b = tok(batch, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = enc(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    start = time.perf_counter()
    for _ in range(epochs):
        enc.train()
        head.train()
        for idx in torch.randperm(len(texts)).split(32):
            with torch.no_grad():
                x = embed([texts[i] for i in idx])
            loss = torch.nn.functional.cross_entropy(head(x), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    enc.eval()
    head.eval()
    with torch.no_grad():
        logits = torch.cat([head(embed(test.text.tolist()[i:i + 64])) for i in range(0, len(test), 64)])
    acc = float((logits.argmax(1).numpy() == test.label.astype(int).to_numpy()).mean())
    return {"seconds": round(seconds, 1), "accuracy": round(acc, 4)}


def domaintune_variant(name: str, *overrides: str) -> dict:
    from domaintune import api

    out = OUT / name
    start = time.perf_counter()
    metrics = api.train(None, [
        "task=classification", "strategy=frozen", "model.max_seq_length=64", f"data.train={OUT / 'train.csv'}",
        f"data.validation={OUT / 'validation.csv'}", f"data.test={OUT / 'test.csv'}", "training.batch_size=32",
        "evaluation.linear_probe=false", f"frozen.cache_dir={out}/cache", f"output.dir={out}", *overrides],
        overwrite=True, show_progress=False)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "accuracy": round(metrics["after"]["test"]["accuracy"], 4),
            "encoding_seconds": metrics["training"]["encoding_seconds"],
            "head_seconds": metrics["training"]["head_seconds"],
            "choice": {k: v for k, v in metrics["training"].items() if k in ("C", "validation_score_by_epoch")}}


def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    train, test = data()
    results = {"tutorial: encoder recomputed every epoch, MLP, 5 epochs": tutorial(train, test)}
    variants = {
        "domaintune: features once, same MLP, 5 epochs": ("frozen.head=mlp",),
        "domaintune: features once + 2 noisy passes, same MLP": ("frozen.head=mlp", "frozen.noisy_passes=2"),
        "domaintune: features once, logistic (C picked on validation; the default)": (),
    }
    for k, (name, ov) in enumerate(variants.items()):
        results[name] = domaintune_variant(f"v{k}", *ov)
    base = results["tutorial: encoder recomputed every epoch, MLP, 5 epochs"]
    lines = ["| system | test accuracy | wall s | vs tutorial: accuracy | vs tutorial: time |", "|---|---|---|---|---|"]
    for name, r in results.items():
        gain = 100 * (r["accuracy"] - base["accuracy"])
        lines.append(f"| {name} | {r['accuracy']:.4f} | {r['seconds']:.1f} | {gain:+.2f} pt | "
                     f"{base['seconds'] / r['seconds']:.1f}x less |")
    print("\n".join(lines))
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
