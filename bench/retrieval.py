"""Search on judged data, every system side by side in one run: BM25 (bm25s), a dense encoder, and their
reciprocal-rank hybrid (ranx), scored by the same code (nDCG@10, MAP@100, MRR@10, Recall@10/100).

    python bench/retrieval.py                 # SciFact test + XQuAD de / es; writes bench/out/retrieval/
    python bench/retrieval.py --part scifact  # or --part xquad

- SciFact (`../shared/datasets/scifact`, BEIR layout): all-MiniLM-L6-v2 (the default model) at 256 tokens.
- XQuAD (`../shared/datasets/xquad/{de,es,en}`): multilingual-e5-small (its `query: ` / `passage: ` prompts), zero
  shot, within each language (de -> de, es -> es) and across (de -> en, es -> en: the German or Spanish question
  against the English paragraphs; the ids are shared).

SciFact's tuned row comes from one training run on its train judgments (similarity with data.retrieval; 10% of
the train queries held out, seeded, pick the best checkpoint by nDCG@10); that run scores BM25, the base model, the
tuned model and both hybrids on the test judgments itself. Query time: milliseconds per query to encode it and rank
all documents (BM25: tokenise and score), the corpus side not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import matmul_ceiling  # noqa: E402

DATA = HERE.parent.parent / "shared" / "datasets"


def cell(row: dict, c: str) -> str:
    return "–" if c not in row else f"{row[c]:.4f}" if c not in ("seconds", "query_ms") else f"{row[c]:.1f}"


def table(title: str, rows: dict[str, dict]) -> str:
    cols = ["ndcg@10", "recall@100", "mrr@10", "map@100", "seconds", "query_ms"]
    lines = [f"### {title}", "", "| system | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(cell(r, c) for c in cols) + " |")
    return "\n".join(lines)


SCIFACT_RECIPE = [
    "model.name=all-MiniLM-L6-v2", "model.max_seq_length=256", "data.taxonomy=null",
    "training.loss=in_batch_negatives", "training.batch_size=32", "training.learning_rate=3e-5",
    "training.eval_steps=26",  # about once an epoch: each validation encodes all 5,183 abstracts (~3.5 min here)
    "evaluation.retention_tolerance=2.0",
]


def query_ms(model, queries: list[str], n_docs: int) -> float:
    """Milliseconds per query to encode it and rank n_docs documents (top 100), batched as a search service would
    see a burst: the corpus side (indexing) is not counted."""
    import torch
    from sentence_transformers.util import semantic_search

    docs = torch.nn.functional.normalize(torch.randn(n_docs, model.get_embedding_dimension()), dim=-1)
    t = time.perf_counter()
    q = model.encode(queries, batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
    semantic_search(q, docs, top_k=100)
    return round(1000 * (time.perf_counter() - t) / len(queries), 2)


def scifact(out_dir: Path, mine: bool, epochs: int) -> dict:
    """Train all-MiniLM-L6-v2 on SciFact's train judgments; the run itself scores BM25, the base model, the tuned
    model and both hybrids on the test judgments."""
    from domaintune import api
    from domaintune.models import load_sentence_model
    from domaintune.retrieval.data import load_retrieval
    from domaintune.retrieval.search import bm25_run

    run_dir = out_dir / f"scifact-{'mined' if mine else 'in-batch'}-{time.strftime('%Y%m%d-%H%M%S')}"
    extra = [f"training.epochs={epochs}", *(["training.mine_hard_negatives=true"] if mine else [])]
    m = api.train(None, [*SCIFACT_RECIPE, f"data.retrieval={DATA / 'scifact'}", *extra, f"output.dir={run_dir}"],
                  show_progress=False)
    rows = m["retrieval_systems"]["judged_test"]
    data = load_retrieval(DATA / "scifact")
    queries = [data.queries[q] for q in sorted(data.split("test"))]
    _, t_bm25 = bm25_run(data, sorted(data.split("test")))
    base = load_sentence_model("all-MiniLM-L6-v2", 256)
    tuned = load_sentence_model(str(run_dir / "model"), 256)
    ms = {"bm25": round(1000 * t_bm25["queries"] / len(queries), 2),
          "before (base model)": query_ms(base, queries, len(data.corpus)),
          "after (tuned model)": query_ms(tuned, queries, len(data.corpus))}
    for name, row in rows.items():
        row["query_ms"] = ms.get(name, round(ms["bm25"] + ms["after (tuned model)" if "after" in name else
                                                           "before (base model)"], 2))
    return {f"scifact test ({'mined hard negatives' if mine else 'in-batch negatives'})": rows,
            "_scifact_training": {"train_seconds": m["timings"]["train"], "total_seconds": m["timings"]["total"],
                                  "mining_seconds": m["timings"].get("mining"), "run": str(run_dir),
                                  "stsb_test": {k: m[k].get("stsb_test") for k in ("before", "after")},
                                  "epochs": epochs, "training": {k: m["training"].get(k) for k in (
                                      "global_step", "best_step", "best_validation_metric", "validation_metric")}}}


def xquad() -> dict:
    from domaintune.models import load_sentence_model
    from domaintune.retrieval.data import load_retrieval
    from domaintune.retrieval.evaluation import compare_systems

    model = load_sentence_model("multilingual-e5-small", 256)
    out = {}
    for q, c in (("de", "de"), ("es", "es"), ("de", "en"), ("es", "en")):
        data = load_retrieval(DATA / "xquad" / c, queries=DATA / "xquad" / q / "queries.jsonl")
        out[f"xquad {q} -> {c}"] = compare_systems(data, "test", {"multilingual-e5-small": model})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["all", "scifact", "xquad"], default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mine", action="store_true", help="SciFact: mine a hard negative per pair (base model)")
    parser.add_argument("--epochs", type=int, default=2, help="SciFact: training epochs")
    args = parser.parse_args()
    out_dir = HERE / "out" / "retrieval"
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = matmul_ceiling(args.threads)
    print(f"machine: fp32 matmul {machine} GFLOP/s ({args.threads} threads)", flush=True)
    results, t = {}, time.perf_counter()
    if args.part in ("all", "scifact"):
        results.update(scifact(out_dir, args.mine, args.epochs))
    if args.part in ("all", "xquad"):
        results.update(xquad())
    for name, rows in results.items():
        print(table(name, rows) if not name.startswith("_") else f"{name}: {json.dumps(rows)}", "\n", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"retrieval-{args.part}-{stamp}.json").write_text(json.dumps(
        {"machine_gflops": machine, "threads": args.threads, "seconds": round(time.perf_counter() - t, 1),
         "results": results}, indent=2))


if __name__ == "__main__":
    main()
