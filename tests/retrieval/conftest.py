"""A small retrieval set in BEIR's layout, generated from the shipped ESCO extract: each document an occupation
(its preferred label as title, its other labels as text), each query one alternative label, judged relevant to
its occupation; train and test split by occupation."""

from __future__ import annotations

import json

import pytest


def write_beir(folder, n_docs: int = 40, title_only: bool = False):
    import pandas as pd

    from domaintune.core.resources import resource_path

    df = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    df = df[df.alt_labels.str.count("\n") >= 2].head(n_docs)
    folder.mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = [], [], {"train": [], "test": []}
    for k, r in enumerate(df.itertuples()):
        alts = r.alt_labels.split("\n")
        corpus.append({"_id": f"d{k}", "title": r.preferred_label, "text": "" if title_only else ", ".join(alts[1:])})
        queries.append({"_id": f"q{k}", "text": alts[0]})
        qrels["train" if k % 4 else "test"].append((f"q{k}", f"d{k}", 1))
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels").mkdir(exist_ok=True)
    for split, rows in qrels.items():
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t{s}\n" for q, d, s in rows))
    return folder


@pytest.fixture(scope="session")
def beir(tmp_path_factory):
    return write_beir(tmp_path_factory.mktemp("beir") / "set")
