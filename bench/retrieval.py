"""Search on judged data, every system side by side in one run: BM25 (bm25s), a dense encoder, and their
reciprocal-rank hybrid (ranx), scored by the same code (nDCG@10, MAP@100, MRR@10, Recall@10/100).

    python bench/retrieval.py                 # SciFact test + XQuAD de / es; writes bench/out/retrieval/
    python bench/retrieval.py --part scifact  # or --part xquad

- SciFact (`../shared/datasets/scifact`, BEIR layout): all-MiniLM-L6-v2 (the default model) at 256 tokens.
- XQuAD (`../shared/datasets/xquad/{de,es,en}`): multilingual-e5-small (its `query: ` / `passage: ` prompts), zero
  shot, within each language (de -> de, es -> es) and across (de -> en, es -> en: the German or Spanish question
  against the English paragraphs; the ids are shared).

Not yet here: the tuned model (training from judgments is not built yet; docs/retrieval.md).
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


def table(title: str, rows: dict[str, dict]) -> str:
    cols = ["ndcg@10", "recall@100", "mrr@10", "map@100", "seconds", "query_ms"]
    lines = [f"### {title}", "", "| system | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[c]:.4f}" if c not in ("seconds", "query_ms") else f"{r[c]:.1f}"
                                              for c in cols) + " |")
    return "\n".join(lines)


def scifact() -> dict:
    from domaintune.models import load_sentence_model
    from domaintune.retrieval.data import load_retrieval
    from domaintune.retrieval.evaluation import compare_systems

    data = load_retrieval(DATA / "scifact")
    model = load_sentence_model("all-MiniLM-L6-v2", 256)
    return {"scifact test": compare_systems(data, "test", {"all-MiniLM-L6-v2 (base)": model})}


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
    args = parser.parse_args()
    out_dir = HERE / "out" / "retrieval"
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = matmul_ceiling(args.threads)
    print(f"machine: fp32 matmul {machine} GFLOP/s ({args.threads} threads)", flush=True)
    results, t = {}, time.perf_counter()
    if args.part in ("all", "scifact"):
        results.update(scifact())
    if args.part in ("all", "xquad"):
        results.update(xquad())
    for name, rows in results.items():
        print(table(name, rows), "\n", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"retrieval-{args.part}-{stamp}.json").write_text(json.dumps(
        {"machine_gflops": machine, "threads": args.threads, "seconds": round(time.perf_counter() - t, 1),
         "results": results}, indent=2))


if __name__ == "__main__":
    main()
