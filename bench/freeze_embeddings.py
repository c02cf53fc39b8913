"""Step time of bi-encoder training with and without a frozen embedding matrix, side by side in one run.

CoSENT, batch 32 job-title pairs from the shipped ESCO extract, 25 timed steps after 5 warm-up (fewer with
--steps). The optimiser is the one domaintune's trainers use (transformers' default: torch AdamW).

    python bench/freeze_embeddings.py                                   # all-MiniLM-L6-v2 (30k vocabulary)
    python bench/freeze_embeddings.py --model multilingual-e5-small     # 250k vocabulary: the multilingual demo
"""

from __future__ import annotations

import json
import time

import torch


def step_times(freeze_embeddings: bool, steps: int = 30, batch: int = 32, model_name: str = "all-MiniLM-L6-v2") -> dict:
    import tempfile

    import pandas as pd

    from domaintune.models import freeze, load_sentence_model
    from domaintune.similarity.losses import build_loss
    from domaintune.similarity.recipe import TaxonomyConfig
    from domaintune.similarity.taxonomy import build_pairs

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        build_pairs(TaxonomyConfig(pairs_per_concept=2), tmp)
        pairs = pd.read_csv(f"{tmp}/train.csv", dtype={"text_a": str, "text_b": str}).sample(
            steps * batch, random_state=0)
    model = load_sentence_model(model_name)
    freeze(model, freeze_embeddings, 0)
    loss_fn = build_loss("cosent", model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    model.train()
    totals = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for i in range(steps):
        b = pairs.iloc[i * batch:(i + 1) * batch]
        feats = [model.preprocess(b.text_a.tolist()), model.preprocess(b.text_b.tolist())]
        t0 = time.perf_counter()
        loss = loss_fn(feats, torch.tensor(b.score.values, dtype=torch.float32))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        t3 = time.perf_counter()
        if i >= 5:
            for k, v in zip(totals, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                totals[k] += v
    n = steps - 5
    out = {k: round(v / n, 4) for k, v in totals.items()}
    out["step"] = round(sum(totals.values()) / n, 4)
    return out


if __name__ == "__main__":
    import argparse
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    trained = step_times(False, args.steps, model_name=args.model)
    frozen = step_times(True, args.steps, model_name=args.model)
    print(json.dumps({"model": args.model, "embeddings_trained_s_per_step": trained,
                      "embeddings_frozen_s_per_step": frozen,
                      "speedup": round(trained["step"] / frozen["step"], 2)}, indent=2))
