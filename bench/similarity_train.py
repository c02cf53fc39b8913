"""domaintune vs the plain sentence-transformers trainer, side by side in one run.

Same model (all-MiniLM-L6-v2), data (STS benchmark train), loss (cosine MSE), batch size (16), epochs (1),
learning rate, warm-up and seed. Each system trains in its own subprocess so peak memory is its own.
Reported: training pairs/s, real vs padded tokens, peak RSS, STSb test Spearman and ESCO retrieval after, for
sentence-transformers, domaintune as the recipe defaults train, domaintune with `model.freeze_embeddings`, and that
again as 2 processes x 1 thread (torchrun) instead of 1 process x 2 threads.
Then the levers one by one on the same length-grouped batches in one process (step time: for-each AdamW, embeddings
frozen, fused AdamW, both, torch.compile), and one domaintune run profiled: where the time goes, and how close to this
CPU's matmul ceiling.

    python bench/similarity_train.py [--stsb-dir ../shared/datasets/stsb_en] [--out bench/out]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import free_port, matmul_ceiling, peak_rss_mib  # noqa: E402

BATCH, EPOCHS, LR, WARMUP, SEED = 16, 1, 2e-5, 0.1, 42


def load_train(stsb_dir: Path):
    import pandas as pd

    df = pd.read_csv(stsb_dir / "sts-train.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    return pd.DataFrame({"text_a": df.sentence1, "text_b": df.sentence2, "score": df.score.astype(float) / 5.0})


class TokenCounter:
    """Counts real and padded tokens of every training forward pass (a forward pre-hook on the encoder)."""

    def __init__(self, model):
        self.real = self.padded = 0
        self.active = True
        model[0].register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        feats = args[0]
        if self.active and module.training and "attention_mask" in feats:
            self.real += int(feats["attention_mask"].sum())
            self.padded += int(feats["attention_mask"].numel())


def after_metrics(model) -> dict:
    from domaintune.core.resources import load_stsb
    from domaintune.similarity.evaluation import PairSimilarityEvaluator, RetrievalEvaluator
    from domaintune.similarity.recipe import TaxonomyConfig
    from domaintune.similarity.taxonomy import retrieval_task

    model.eval()
    out = {"stsb_test": PairSimilarityEvaluator(load_stsb("test"), "stsb_test")(model)}
    out["retrieval"] = RetrievalEvaluator(*retrieval_task(TaxonomyConfig(), 2000, SEED))(model)
    return out


def run_system(system: str, stsb_dir: Path, out: Path) -> None:
    """Runs in a subprocess: train one system, write its result JSON."""
    import torch

    from domaintune.core.io import set_seed
    from domaintune.models import load_sentence_model

    processes = int(os.environ.get("WORLD_SIZE", "1"))  # the two-process system runs under torchrun
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")) // processes)
    set_seed(SEED)
    train = load_train(stsb_dir)
    model = load_sentence_model("all-MiniLM-L6-v2", max_seq_length=128)
    if system.startswith("domaintune-frozen-embeddings"):
        from domaintune.models import freeze

        freeze(model, True, 0)
    counter = TokenCounter(model)
    start = time.perf_counter()
    if system == "sentence-transformers":
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

        args = SentenceTransformerTrainingArguments(
            output_dir=str(out / "st_ckpt"), num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH,
            learning_rate=LR, warmup_steps=WARMUP, seed=SEED, save_strategy="no", report_to="none",
            disable_tqdm=True, logging_steps=50, use_cpu=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_pandas(train),
                                             loss=CosineSimilarityLoss(model))
        start = time.perf_counter()
        trainer.train()
    else:
        from domaintune.registry import load_recipe
        from domaintune.similarity.trainer import train_pairs

        recipe = load_recipe(None, ["training.loss=cosine_mse", f"training.batch_size={BATCH // processes}",
                                    f"training.epochs={EPOCHS}", f"training.learning_rate={LR}",
                                    f"training.warmup_ratio={WARMUP}", f"training.seed={SEED}",
                                    "training.eval_steps=100000", "training.tensorboard=false"])
        val = train.iloc[:16]
        start = time.perf_counter()
        train_pairs(model, train, val, recipe, out / "dt_run", show_progress=False)
    seconds = time.perf_counter() - start
    counter.active = False
    if processes > 1:  # every rank's tokens; rank 0 evaluates and writes
        import torch.distributed as dist

        counts = torch.tensor([counter.real, counter.padded], dtype=torch.float64)
        dist.all_reduce(counts)
        counter.real, counter.padded = int(counts[0]), int(counts[1])
        if dist.get_rank() != 0:
            return
    result = {
        "system": system, "processes": processes, "threads_per_process": torch.get_num_threads(),
        "train_seconds": round(seconds, 2), "pairs": len(train),
        "pairs_per_second": round(len(train) * EPOCHS / seconds, 2),
        "real_tokens": counter.real, "padded_tokens": counter.padded,
        "padding_share": round(1 - counter.real / max(counter.padded, 1), 4),
        "peak_rss_mib": peak_rss_mib(),
        "after": after_metrics(model),
    }
    (out / f"{system}.json").write_text(json.dumps(result, indent=2))


def step_levers(stsb_dir: Path, steps: int = 25) -> dict:
    """Mean step time (forward + backward + clip + optimiser) of each lever alone, on the same length-grouped
    batches, after 5 warm-up steps (torch.compile: its compilation is in the warm-up and reported apart)."""
    import torch

    from domaintune.core.sampler import LengthGroupedBatchSampler, row_lengths
    from domaintune.models import freeze, load_sentence_model
    from domaintune.similarity.losses import build_loss

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    train = load_train(stsb_dir)
    out = {}
    for lever in ("eager, AdamW (for-each)", "embeddings frozen", "fused AdamW", "fused AdamW + embeddings frozen",
                  "torch.compile"):
        torch.manual_seed(SEED)
        model = load_sentence_model("all-MiniLM-L6-v2", max_seq_length=128)
        if "embeddings frozen" in lever:
            freeze(model, True, 0)
        model.train()
        loss_fn = build_loss("cosine_mse", model)
        if lever == "torch.compile":
            model[0].auto_model = torch.compile(model[0].auto_model, dynamic=True)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=LR, fused="fused AdamW" in lever)
        lengths = row_lengths(model.tokenizer, [train.text_a.tolist(), train.text_b.tolist()], 128)
        batches = list(LengthGroupedBatchSampler(list(range(len(train))), BATCH, False, seed=SEED,
                                                 lengths=lengths))[:steps + 5]

        def step(b, model=model, loss_fn=loss_fn, params=params, opt=opt):
            rows = train.iloc[b]
            feats = [model.preprocess(rows.text_a.tolist()), model.preprocess(rows.text_b.tolist())]
            loss_fn(feats, torch.tensor(rows.score.values, dtype=torch.float32)).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()

        t0 = time.perf_counter()
        try:
            for b in batches[:5]:
                step(b)
        except Exception as e:  # torch.compile needs a working C++ toolchain; a lever that cannot run says why
            out[lever] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(f"  lever {lever}: {out[lever]}", flush=True)
            continue
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for b in batches[5:]:
            step(b)
        out[lever] = {"seconds_per_step": round((time.perf_counter() - t0) / steps, 4),
                      "warm_up_seconds": round(warm, 1)}
        print(f"  lever {lever}: {out[lever]}", flush=True)
    base = out["eager, AdamW (for-each)"]["seconds_per_step"]
    for v in out.values():
        if "seconds_per_step" in v:
            v["speedup"] = round(base / v["seconds_per_step"], 3)
    return out


def profile_domaintune(stsb_dir: Path, steps: int = 40) -> dict:
    """Profile forward / backward / optimiser of domaintune's length-grouped batches on STSb train."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from domaintune.core.sampler import LengthGroupedBatchSampler, row_lengths
    from domaintune.models import load_sentence_model
    from domaintune.similarity.losses import build_loss

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(SEED)
    train = load_train(stsb_dir)
    model = load_sentence_model("all-MiniLM-L6-v2", max_seq_length=128)
    model.train()
    loss_fn = build_loss("cosine_mse", model)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, fused=True)  # as domaintune trains
    lengths = row_lengths(model.tokenizer, [train.text_a.tolist(), train.text_b.tolist()], 128)
    sampler = LengthGroupedBatchSampler(list(range(len(train))), BATCH, False, seed=SEED, lengths=lengths)
    batches = list(sampler)[:steps]
    phases = {"tokenize": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    real_tokens = 0

    def step(b):
        nonlocal real_tokens
        rows = train.iloc[b]
        t0 = time.perf_counter()
        feats = [model.preprocess(rows.text_a.tolist()), model.preprocess(rows.text_b.tolist())]
        real_tokens += int(sum(f["attention_mask"].sum() for f in feats))
        t1 = time.perf_counter()
        loss = loss_fn(feats, torch.tensor(rows.score.values, dtype=torch.float32))
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        t4 = time.perf_counter()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[k] += v

    for b in batches[:5]:  # warm-up
        step(b)
    phases = dict.fromkeys(phases, 0.0)
    real_tokens = 0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for b in batches[5:]:
            step(b)
    total = sum(phases.values())
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    body = model[0].auto_model
    n_embed = sum(p.numel() for p in body.embeddings.parameters())
    n_params = sum(p.numel() for p in body.parameters()) - n_embed
    cfg = body.config
    # training FLOPs per real token: 6 x non-embedding params (fwd 2, bwd 4); attention scores add
    # 12 x layers x hidden x seq per token, small at these lengths (seq ~ 15) and ignored here.
    flops = 6 * n_params * real_tokens
    return {"steps": len(batches) - 5, "seconds": round(total, 3),
            "phase_share": {k: round(v / total, 3) for k, v in phases.items()},
            "real_tokens": real_tokens, "non_embedding_params": n_params, "layers": cfg.num_hidden_layers,
            "achieved_gflops_real_tokens": round(flops / total / 1e9, 1), "top_ops": table}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stsb-dir", type=Path, default=HERE.parent.parent / "shared" / "datasets" / "stsb_en")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--system", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.system:
        run_system(args.system, args.stsb_dir, args.out)
        return
    if not (args.stsb_dir / "sts-train.tsv").exists():
        sys.exit(f"STSb train not found in {args.stsb_dir}; pass --stsb-dir")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    systems = ("sentence-transformers", "domaintune", "domaintune-frozen-embeddings",
               "domaintune-frozen-embeddings-2-processes")
    for system in systems:
        print(f"training {system} ...", flush=True)
        # the last: 2 processes x 1 thread (torchrun, gloo; batch 8 per process = the same global batch of 16)
        launch = [sys.executable]
        if system.endswith("2-processes"):
            launch += ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                       "--master_port", str(free_port())]
        subprocess.run([*launch, __file__, "--system", system, "--stsb-dir", str(args.stsb_dir),
                        "--out", str(args.out)], check=True, env=env)
    results = {s: json.loads((args.out / f"{s}.json").read_text()) for s in systems}
    st = results["sentence-transformers"]
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    ceiling = matmul_ceiling(threads)
    print("levers, one at a time ...", flush=True)
    levers = step_levers(args.stsb_dir)
    prof = profile_domaintune(args.stsb_dir)
    peak = ceiling["1024x1024x1024"]
    # the whole run's rate on real tokens: 6 x non-embedding parameters per real token (profile's accounting)
    run_gflops = {s: round(6 * prof["non_embedding_params"] * r["real_tokens"] / r["train_seconds"] / 1e9, 1)
                  for s, r in results.items()}
    summary = {
        "speedup_pairs_per_second": {s: round(r["pairs_per_second"] / st["pairs_per_second"], 2)
                                     for s, r in results.items()},
        "stsb_test_spearman_difference_points": {
            s: round((r["after"]["stsb_test"]["spearman"] - st["after"]["stsb_test"]["spearman"]) * 100, 2)
            for s, r in results.items()},
        "whole_run_gflops_real_tokens": run_gflops,
        "whole_run_share_of_matmul_peak": {s: round(g / peak, 3) for s, g in run_gflops.items()},
        **results, "matmul_gflops": ceiling, "levers": levers,
        "profile": {k: v for k, v in prof.items() if k != "top_ops"},
        "share_of_matmul_peak_real_tokens": round(prof["achieved_gflops_real_tokens"] / peak, 3),
    }
    (args.out / "similarity_train.json").write_text(json.dumps(summary, indent=2))
    (args.out / "profile_top_ops.txt").write_text(prof["top_ops"])
    print(json.dumps({k: v for k, v in summary.items() if k not in results}, indent=2))
    for r in results.values():
        print(f"{r['system']:>40}: {r['pairs_per_second']:7.2f} pairs/s  padding {r['padding_share']:.0%}  "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB  STSb test {r['after']['stsb_test']['spearman']:.4f}  "
              f"retrieval MRR@10 {r['after']['retrieval']['mrr@10']:.4f}")


if __name__ == "__main__":
    main()
