"""Data that ships inside the package, so the demo and tests need no network and no ../shared.

- ESCO occupations v1.2.0 (en/de/es): concept id (first 8 characters of the ESCO UUID), ISCO-08 group,
  preferred label, alternative labels. (c) European Union, ESCO; reuse with attribution (Decision 2011/833/EU).
- STS benchmark dev and test (English): scores CC BY-SA 4.0, sentences under their source corpora's terms;
  see resources/STSB_LICENSE.txt.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

import pandas as pd

from domaintune.errors import DomaintuneError

BUILTIN_TAXONOMIES = {"esco_en": "esco_occupations_en.csv.gz", "esco_de": "esco_occupations_de.csv.gz",
                      "esco_es": "esco_occupations_es.csv.gz"}


def resource_path(name: str) -> Path:
    return Path(str(files("domaintune") / "resources" / name))


def resolve_builtin(path: str) -> Path:
    """'builtin:esco_en' -> the shipped file; any other string is taken as a path."""
    if path.startswith("builtin:"):
        key = path.removeprefix("builtin:")
        if key not in BUILTIN_TAXONOMIES:
            raise DomaintuneError(f"unknown builtin '{path}'; expected one of "
                                  + ", ".join(f"builtin:{k}" for k in BUILTIN_TAXONOMIES))
        return resource_path(BUILTIN_TAXONOMIES[key])
    return Path(path)


def load_stsb(split: str) -> pd.DataFrame:
    """STS benchmark English dev/test as text_a, text_b, score (0-1)."""
    df = pd.read_csv(resource_path(f"stsb_en_{split}.tsv.gz"), sep="\t", quoting=csv.QUOTE_NONE, dtype=str,
                     keep_default_na=False)
    return pd.DataFrame({"text_a": df.sentence1, "text_b": df.sentence2, "score": df.score.astype(float) / 5.0})
