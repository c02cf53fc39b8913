"""Rerankers side by side (issue 25), each part one run on this machine:

    python bench/reranker.py --part esco      # ESCO held-out retrieval: the tuned bi-encoder alone, and with a
                                              # reranker over its top 100 (--train-queries, --epochs,
                                              # --learning-rate: the reranker's training)
    python bench/reranker.py --part latency   # ms per query to rerank 100 candidates: torch fp32, ONNX fp32 and
                                              # int8 exports, job titles and SciFact abstracts, 2 threads
    python bench/reranker.py --part silver    # ESCO, 200 gold train queries: bi-encoder gold only vs gold +
                                              # silver pairs (Augmented SBERT)

Results go to bench/out/reranker/ (JSON) and the terminal (tables for bench/RESULTS.md).

- esco: the demo's recipe trains the bi-encoder (similarity on the shipped ESCO taxonomy); the same taxonomy,
  split by concept as the demo splits it, is written as judgments (an alternative label -> its concept's
  preferred label, among all 3,039 concepts; train queries capped at --train-queries (2,000 of 21,233), dev at
  300, test = the demo's 2,000 held-out queries); `task: reranker` then trains all-MiniLM-L6-v2 with a new head
  on the train judgments, with negatives from the tuned bi-encoder's top 30, and reranks that bi-encoder's top 100
  of each test query. The "first stage" row is the tuned bi-encoder alone on the same queries; the "RRF" row fuses
  its top 100 with their reranked order (reciprocal ranks, ranx).
- latency: candidates scored in one call per query (batch 100), median over 10 queries, after 2 warm-up calls; a
  reranker's latency does not depend on its weights, so the ESCO reranker is used when it exists, else MiniLM with
  an untrained head.
- silver: two similarity runs on the ESCO judgments (data.max_train_queries=200 of the 2,000 train queries,
  split_seed fixed, so both have the same gold), the second with data.silver.enabled (the other 1,800 queries
  labelled); test nDCG@10 / MRR@10 of each. (SciFact would take over an hour here: every validation encodes its
  5,183 abstracts.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import matmul_ceiling  # noqa: E402

DATA = HERE.parent.parent / "shared" / "datasets"
OUT = HERE / "out" / "reranker"


def esco_judgments(folder: Path, recipe, train_queries: int = 2000) -> Path:
    """The demo's ESCO split as a BEIR folder: queries are alternative labels, documents preferred labels."""
    from domaintune.similarity.taxonomy import retrieval_task

    cfg, seed = recipe.data.taxonomy, recipe.training.seed
    caps = {"train": train_queries, "validation": 300, "test": recipe.evaluation.retrieval_max_queries}
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    queries, corpus = {}, None
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
        q, corpus, relevant = retrieval_task(cfg, caps[split], seed, split)
        queries.update({f"{name}-{k}": v for k, v in q.items()})
        (folder / "qrels" / f"{name}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{name}-{k}\t{d}\t1\n" for k, docs in sorted(relevant.items()) for d in sorted(docs)))
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": v, "text": ""}) + "\n"
                                                 for k, v in corpus.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n"
                                                  for k, v in queries.items()))
    return folder


def esco(out: Path, train_queries: int, epochs: int, learning_rate: float) -> dict:
    from domaintune import api
    from domaintune.registry import load_recipe
    from domaintune.similarity.demo import demo_recipe

    demo = demo_recipe(str(out / "bi-encoder"))
    t = time.perf_counter()
    bi = api.train(demo, show_progress=False)
    bi_seconds = time.perf_counter() - t
    judged = esco_judgments(out / "esco-judgments", demo, train_queries)
    rr = api.train(load_recipe(None, [
        "task=reranker", "model.name=all-MiniLM-L6-v2", "model.max_seq_length=32", f"data.retrieval={judged}",
        f"data.first_stage={out / 'bi-encoder' / 'model'}", "training.batch_size=32", f"training.epochs={epochs}",
        f"training.learning_rate={learning_rate}", "training.eval_steps=100", "evaluation.top_k=100",
        f"output.dir={out / 'reranker'}"]), show_progress=False)
    first_name = "first stage (" + str(out / "bi-encoder" / "model") + ")"
    first = rr["baselines"][first_name]["rerank_test"]
    return {"demo_retrieval_mrr@10_after": bi["after"]["retrieval"]["mrr@10"], "bi_encoder_train_seconds":
            round(bi_seconds, 1), "rows": {"tuned bi-encoder alone": first,
                                           "bi-encoder + untrained reranker (before)": rr["before"]["rerank_test"],
                                           "bi-encoder + trained reranker (after)": rr["after"]["rerank_test"],
                                           "bi-encoder and trained reranker, RRF": rr["baselines"][
                                               first_name + " + reranker, fused (RRF)"]["rerank_test"]},
            "reranker_train_seconds": rr["training"]["seconds"], "reranker_train_rows": rr["training"]["train_rows"],
            "ms_per_query_rerank_100_torch": rr["run"]["ms_per_query_after"]}


def latency(out: Path, threads: int) -> dict:
    import pandas as pd
    import torch

    from domaintune import api, registry
    from domaintune.core.resources import resource_path
    from domaintune.retrieval.data import load_retrieval

    torch.set_num_threads(threads)
    trained = sorted(out.glob("esco-*/reranker/model/config.json"))
    model = trained[-1].parent if trained else out / "minilm-head"
    tag = model.parent.parent.name if trained else "minilm-head"
    if not trained:  # latency does not depend on the weights: MiniLM with a new head
        from domaintune.models import load_cross_encoder
        from domaintune.reranker.task import save

        if not model.exists():
            save(load_cross_encoder("all-MiniLM-L6-v2", 256), model)
    sci = load_retrieval(DATA / "scifact")
    docs = [sci.document(d) for d in list(sci.corpus)[:100]]
    esco_titles = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str).preferred_label.tolist()[:100]
    sets = {"job titles (100 candidates)": ("registered nurse", esco_titles),
            "SciFact abstracts, cut at the model's maximum length (100 candidates)": (
                sci.queries[sorted(sci.split("test"))[0]], docs)}
    routes = {"torch fp32": model}
    for quantize in ("none", "int8"):
        folder = out / f"export-{tag}-onnx-{quantize}"
        if not folder.exists():
            api.export(model, folder, "onnx", quantize, force=True, parity_texts=200)
        routes[f"onnx {'int8' if quantize == 'int8' else 'fp32'}"] = folder
    rows = {}
    for route, path in routes.items():
        predictor = registry.load_model(path, threads) if route != "torch fp32" else registry.load_model(path)
        for name, (query, cands) in sets.items():
            pairs = [(query, c) for c in cands]
            for _ in range(2):
                predictor.predict(pairs, batch_size=100)
            times = []
            for _ in range(10):
                t = time.perf_counter()
                predictor.predict(pairs, batch_size=100)
                times.append(1000 * (time.perf_counter() - t))
            rows.setdefault(name, {})[route] = round(statistics.median(times), 1)
        if route == "onnx int8":
            rows["_int8_parity"] = json.loads((path / "export.json").read_text())["parity"]["agreement"]
    rows["_model"] = str(model)
    return rows


def silver(out: Path) -> dict:
    """ESCO judgments (as the esco part writes them), 200 gold train queries (10% of the 2,000): the bi-encoder
    from the gold pairs alone vs gold + silver pairs, the silver labelled by a cross-encoder trained on the same
    gold queries; both judged on the same test queries."""
    from domaintune import api
    from domaintune.registry import load_recipe
    from domaintune.similarity.demo import demo_recipe

    judged = esco_judgments(out / "esco-judgments", demo_recipe(str(out / "unused")))
    base = ["model.name=all-MiniLM-L6-v2", "model.max_seq_length=32", f"data.retrieval={judged}",
            "data.taxonomy=null", "data.max_train_queries=200", "training.loss=in_batch_negatives",
            "training.batch_size=32", "training.learning_rate=8e-5", "training.epochs=2", "training.eval_steps=5",
            "model.freeze_embeddings=true"]
    rows = {}
    for name, folder, extra in (("gold only (200 queries)", "gold-only", []), ("gold + silver", "gold-silver", [
            "data.silver.enabled=true", "data.silver.max_seq_length=32", "data.silver.training.epochs=2",
            "data.silver.training.batch_size=32", "data.silver.training.learning_rate=3e-5",
            "data.silver.training.eval_steps=20"])):
        t = time.perf_counter()
        m = api.train(load_recipe(None, [*base, *extra, f"output.dir={out / folder}"]), show_progress=False)
        rows[name] = {**m["after"]["judged_test"], "base": m["before"]["judged_test"],
                      "train_pairs": m["run"]["train_pairs"], "silver_pairs": m["run"]["silver_pairs"],
                      "seconds": round(time.perf_counter() - t, 1)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["esco", "latency", "silver"], required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-queries", type=int, default=2000, help="esco: reranker train queries (of 21,233)")
    parser.add_argument("--epochs", type=int, default=1, help="esco: reranker epochs")
    parser.add_argument("--learning-rate", type=float, default=3e-5, help="esco: reranker learning rate")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    machine = matmul_ceiling(args.threads)
    print(f"machine: fp32 matmul {machine} GFLOP/s ({args.threads} threads)", flush=True)
    t = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parts = {"esco": lambda: esco(OUT / f"esco-{stamp}", args.train_queries, args.epochs, args.learning_rate),
             "latency": lambda: latency(OUT, args.threads), "silver": lambda: silver(OUT / f"silver-{stamp}")}
    result = parts[args.part]()
    print(json.dumps(result, indent=2))
    (OUT / f"reranker-{args.part}-{stamp}.json").write_text(json.dumps(
        {"machine_gflops": machine, "threads": args.threads, "args": vars(args),
         "seconds": round(time.perf_counter() - t, 1), "result": result}, indent=2))


if __name__ == "__main__":
    main()
