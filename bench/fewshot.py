"""Few-shot SST-2: domaintune's few-shot task vs the frozen linear probe vs the `setfit` library, on the same
samples, side by side in one run.

    pip install --no-deps setfit==1.2.0 evaluate && pip install requests   # setfit beside sentence-transformers 6
    python bench/fewshot.py --sizes 8 64 --seeds 0 1 2 3 4                 # writes bench/out/fewshot/
    python bench/fewshot.py --sizes 64 --max-pairs 2048 --resume           # an interrupted run goes on

Pool: all SST-2 training sentences; test: GLUE dev (872). For each size n and seed, n sentences per class are
drawn by domaintune's sampler (`tasks.fewshot.sample_per_class`) and every system trains on exactly those.
all-MiniLM-L6-v2 for all (`--model all-mpnet-base-v2` for the bigger English encoder). setfit runs with its
defaults (oversampling, 1 epoch, batch 16, logistic head).
Training time: domaintune = phases 1-2 per seed (pairs + head), setfit = `Trainer.train()`, probe = encoding the
examples + logistic regression.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from domaintune import api

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
OUT = ROOT / "bench" / "out" / "fewshot"


def run_setfit(sample: pd.DataFrame, test: pd.DataFrame, seed: int, model_name: str) -> dict:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from domaintune.models import resolve_model

    model = SetFitModel.from_pretrained(resolve_model(model_name)[0])
    train = Dataset.from_dict({"text": sample.text.tolist(), "label": [int(x[0]) for x in sample["labels"]]})
    args = TrainingArguments(seed=seed, show_progress_bar=False, output_dir=str(OUT / "setfit"), report_to="none",
                             save_strategy="no")  # setfit's defaults write checkpoints/ and runs/ into the cwd
    trainer = Trainer(model=model, args=args, train_dataset=train)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    pred = np.asarray(model.predict(test.text.tolist(), batch_size=64))
    return {"accuracy": float((pred.astype(int) == test.label.astype(int).to_numpy()).mean()), "seconds": seconds}


def run_tag(args, pairs: bool = True) -> str:
    """Suffix of the run folders and result file: the model (when not MiniLM) and the pair cap (when set)."""
    tag = "" if args.model == "all-MiniLM-L6-v2" else f"_{Path(args.model).name}"
    return tag + (f"_pairs{args.max_pairs}" if args.max_pairs and pairs else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[8])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--setfit-seeds", type=int, default=None, help="run setfit on the first K seeds only")
    ap.add_argument("--max-pairs", type=int, default=None, help="domaintune: pairs.max_pairs (default: recipe's)")
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="encoder for every system (a name, folder, hub id)")
    ap.add_argument("--also-trained-embeddings", action="store_true",
                    help="also run domaintune with model.freeze_embeddings=false (the default keeps them fixed)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse finished seeds (domaintune's run folder, setfit's per-seed files) of the same setup")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    OUT.mkdir(parents=True, exist_ok=True)
    pool = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
    pool.rename(columns={"sentence": "text"}).to_csv(OUT / "pool.csv", index=False)
    test = pd.read_csv(SST2 / "dev.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
    test = test.rename(columns={"sentence": "text"})
    test.to_csv(OUT / "test.csv", index=False)
    from domaintune.classification.data import load_labelled
    from domaintune.fewshot.task import sample_per_class

    labelled = load_labelled(OUT / "pool.csv")
    report = {}
    for n in args.sizes:
        extra = [f"pairs.max_pairs={args.max_pairs}"] if args.max_pairs else []
        extra.append(f"model.name={args.model}")
        tag = run_tag(args)  # never overwrite another model's or another pair cap's results
        m = api.train(None, ["task=fewshot", f"data.train={OUT / 'pool.csv'}", f"data.test={OUT / 'test.csv'}",
                             f"data.n_per_class={n}", f"training.seeds={args.seeds}",
                             f"output.dir={OUT / f'n{n}{tag}'}", *extra], resume=args.resume, overwrite=not args.resume,
                      show_progress=False)
        rows = {"probe": [], "domaintune": [], "domaintune, embeddings trained": [], "setfit": []}
        trained = None
        if args.also_trained_embeddings:
            trained = api.train(None, [
                "task=fewshot", f"data.train={OUT / 'pool.csv'}", f"data.test={OUT / 'test.csv'}",
                f"data.n_per_class={n}", f"training.seeds={args.seeds}", "model.freeze_embeddings=false",
                f"output.dir={OUT / f'n{n}{tag}_trained_embeddings'}", *extra], resume=args.resume,
                overwrite=not args.resume, show_progress=False)
        for k, s in enumerate(m["seeds"]):
            rows["probe"].append({"accuracy": s["before"]["accuracy"], "seconds": s["probe_seconds"]})
            rows["domaintune"].append({"accuracy": s["after"]["accuracy"], "seconds": s["train_seconds"]})
            if trained:
                f = trained["seeds"][k]
                rows["domaintune, embeddings trained"].append({"accuracy": f["after"]["accuracy"],
                                                               "seconds": f["train_seconds"]})
            if args.setfit_seeds is None or k < args.setfit_seeds:
                # one file per finished setfit seed; setfit ignores domaintune's pair cap, so only the model names it
                done = OUT / "setfit" / f"n{n}{run_tag(args, pairs=False)}_seed{s['seed']}.json"
                if args.resume and done.exists():
                    rows["setfit"].append(json.loads(done.read_text()))
                else:
                    sample = sample_per_class(labelled, ["0", "1"], n, s["seed"])
                    rows["setfit"].append(run_setfit(sample, test, s["seed"], args.model))
                    done.write_text(json.dumps(rows["setfit"][-1]))
        report[n] = {"pairs_per_seed": m["seeds"][0]["body"]["pairs"], **rows}
        print(f"\n### {n} per class (seeds {args.seeds}; domaintune {report[n]['pairs_per_seed']} pairs per seed)\n")
        print("| system | accuracy (mean ± std) | training s per run | seeds |")
        print("|---|---|---|---|")
        for name, rs in rows.items():
            if rs:
                acc = np.array([r["accuracy"] for r in rs])
                print(f"| {name} | {acc.mean():.4f} ± {acc.std():.4f} | {np.mean([r['seconds'] for r in rs]):.2f} | "
                      f"{len(rs)} |")
        if rows["setfit"]:
            k = len(rows["setfit"])
            sf = np.mean([r["accuracy"] for r in rows["setfit"]])
            t_sf = np.mean([r["seconds"] for r in rows["setfit"]])
            for name in ("domaintune", "domaintune, embeddings trained"):
                if rows[name]:
                    d = np.mean([r["accuracy"] for r in rows[name][:k]])
                    t = np.mean([r["seconds"] for r in rows[name][:k]]) / t_sf
                    print(f"\n{name} vs setfit on the same {k} seeds: {100 * (d - sf):+.2f} pt accuracy, "
                          f"{t:.2f}x the time")
    tag = run_tag(args)
    (OUT / f"results_n{'_'.join(map(str, args.sizes))}{tag}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
