"""Data that ships inside the package, so the demo and tests need no network and no ../shared.

- ESCO occupations v1.2.0 (en/de/es): concept id (first 8 characters of the ESCO UUID), ISCO-08 group,
  preferred label, alternative labels. (c) European Union, ESCO; reuse with attribution (Decision 2011/833/EU).
- STS benchmark dev and test (English): scores CC BY-SA 4.0, sentences under their source corpora's terms;
  see resources/STSB_LICENSE.txt.
- STSb Multi MT (Philip May, DeepL translations of the STS benchmark) test splits in de, es, ja, zh; same
  licence as the STS benchmark, see resources/STSB_MULTI_MT_LICENSE.txt. Other languages of stsb_multi_mt
  (fr, it, nl, pl, pt, ru) are read from a folder given by the user.
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


SHIPPED_STSB_LANGUAGES = ("de", "es", "ja", "zh")  # test splits of stsb_multi_mt in the package; en is STSb itself
STSB_MULTI_MT_LANGUAGES = ("de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")


def load_stsb(split: str) -> pd.DataFrame:
    """STS benchmark English dev/test as text_a, text_b, score (0-1)."""
    df = pd.read_csv(resource_path(f"stsb_en_{split}.tsv.gz"), sep="\t", quoting=csv.QUOTE_NONE, dtype=str,
                     keep_default_na=False)
    return pd.DataFrame({"text_a": df.sentence1, "text_b": df.sentence2, "score": df.score.astype(float) / 5.0})


def load_stsb_multi(language: str, folder: str | None = None) -> pd.DataFrame:
    """The stsb_multi_mt test split of one language as text_a, text_b, score (0-1): shipped for de/es/ja/zh;
    other languages from `folder` (the dataset's `stsb-<lang>-test.csv` files, no header)."""
    if language == "en":
        return load_stsb("test")
    if language not in STSB_MULTI_MT_LANGUAGES:
        raise DomaintuneError(f"evaluation.stsb_languages: no STS benchmark for {language!r}; stsb_multi_mt has "
                              f"en, {', '.join(STSB_MULTI_MT_LANGUAGES)}")
    if language in SHIPPED_STSB_LANGUAGES and folder is None:
        path = resource_path(f"stsb_multi_mt_{language}_test.csv.gz")
    elif folder is None:
        raise DomaintuneError(f"evaluation.stsb_languages: {language!r} is not shipped (only en, "
                              f"{', '.join(SHIPPED_STSB_LANGUAGES)}); set evaluation.stsb_multi_mt_dir to a folder "
                              f"holding stsb-{language}-test.csv")
    else:
        path = Path(folder) / f"stsb-{language}-test.csv"
        if not path.exists():
            raise DomaintuneError(f"{path}: file not found (evaluation.stsb_multi_mt_dir, language {language!r})")
    df = pd.read_csv(path, header=None, names=["sentence1", "sentence2", "score"], dtype=str, keep_default_na=False)
    return pd.DataFrame({"text_a": df.sentence1, "text_b": df.sentence2, "score": df.score.astype(float) / 5.0})
