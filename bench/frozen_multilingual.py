"""Frozen-feature classification across languages: job title -> ISCO major group (1 digit, 9 classes present),
trained on English titles, tested on held-out concepts in English, German and Spanish. Every encoder runs the
same `strategy: frozen` recipe (features once, logistic regression, C picked on validation) side by side.

    python bench/frozen_multilingual.py                       # writes bench/out/frozen_multilingual/
    python bench/frozen_multilingual.py --concept-split RUN/data/concept_split.csv \
        --models use-multilingual-v3 multilingual-e5-small all-MiniLM-L6-v2 RUN/model      # + a tuned encoder

Data: the shipped ESCO extract (preferred labels). Concepts are split 80/20, stratified by major group and
seeded (or, with `--concept-split`, as a similarity run split them: a tuned encoder never saw a test concept); the
classifier sees the English titles of the training concepts only. The test rows are the 20% held-out concepts'
titles in each language, so German and Spanish accuracy measure cross-lingual transfer of the encoder.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from domaintune import api
from domaintune.classification.loading import load_classifier
from domaintune.core.resources import resource_path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "frozen_multilingual"
LANGUAGES = ("en", "de", "es")


def titles(language: str) -> pd.DataFrame:
    df = pd.read_csv(resource_path(f"esco_occupations_{language}.csv.gz"), dtype=str, keep_default_na=False)
    return pd.DataFrame({"concept_id": df.concept_id, "text": df.preferred_label, "label": df.isco_group.str[0]})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+",
                    default=["use-multilingual-v3", "multilingual-e5-small", "all-MiniLM-L6-v2"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--concept-split", type=Path, default=None,
                    help="a similarity run's data/concept_split.csv: test on its test concepts, train on the rest "
                         "(needed when an encoder was tuned on that run, so no test concept was seen in tuning)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    OUT.mkdir(parents=True, exist_ok=True)
    en = titles("en")
    if args.concept_split:
        split = pd.read_csv(args.concept_split, dtype=str)
        test_ids = split.concept_id[split.split == "test"]
        train_ids = en.concept_id[~en.concept_id.isin(set(test_ids))]
    else:
        train_ids, test_ids = train_test_split(en.concept_id, test_size=0.2, stratify=en.label,
                                               random_state=args.seed)
    en[en.concept_id.isin(set(train_ids))][["text", "label"]].to_csv(OUT / "train_en.csv", index=False)
    tests = {}
    for lang in LANGUAGES:
        df = titles(lang)
        tests[lang] = df[df.concept_id.isin(set(test_ids))].reset_index(drop=True)
    results = {}
    for name in args.models:
        tag = Path(name).parent.name if Path(name).exists() else name
        run = OUT / "runs" / tag
        start = time.perf_counter()
        metrics = api.train(None, ["task=classification", "strategy=frozen", f"model.name={name}",
                                   f"data.train={OUT / 'train_en.csv'}", "model.max_seq_length=64",
                                   f"output.dir={run}"], overwrite=True, show_progress=False)
        seconds = time.perf_counter() - start
        clf = load_classifier(run / "model")
        row = {"train_rows": metrics["run"]["train_rows"], "seconds": round(seconds, 1)}  # encoding included
        for lang, df in tests.items():
            probs, _ = clf.predict_proba(df.text.tolist())
            pred = [clf.labels[i] for i in probs.argmax(1)]
            row[lang] = {"accuracy": round(accuracy_score(df.label, pred), 4),
                         "macro_f1": round(f1_score(df.label, pred, average="macro"), 4)}
        results[tag] = row
        print(tag, json.dumps(row), flush=True)
    (OUT / "results.json").write_text(json.dumps({"test_rows": {k: len(v) for k, v in tests.items()},
                                                  "results": results}, indent=2))
    print(f"\n{len(train_ids)} English training concepts; {len(test_ids)} held-out concepts per language\n")
    print("| encoder | " + " | ".join(f"{lang} accuracy (macro-F1)" for lang in LANGUAGES) + " | run s |")
    print("|---|" + "---|" * (len(LANGUAGES) + 1))
    for tag, row in results.items():
        cells = " | ".join(f"{row[lang]['accuracy']:.4f} ({row[lang]['macro_f1']:.4f})" for lang in LANGUAGES)
        print(f"| {tag} | {cells} | {row['seconds']} |")


if __name__ == "__main__":
    main()
