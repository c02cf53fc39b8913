"""EDA-style text augmentation for training rows (Wei & Zou 2019): synonym replacement, random insertion of
a synonym, random swap, random deletion. Seeded; applied to training data only.

Written here (about 60 lines) because the libraries that offer it (nlpaug, textattack) pull heavy
dependencies and download their resources at run time; EDA itself is four list operations.

Synonyms come from a user table (CSV with columns word, synonym; one row per pair) or, when nltk and its
WordNet data are installed, from WordNet. With neither, synonym replacement and insertion are skipped and
the log says so.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict

import pandas as pd

from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


def load_synonyms(path: str | None) -> dict[str, list[str]] | None:
    """word -> synonyms, from a CSV table, or WordNet when available; None when neither exists."""
    if path:
        from domaintune.core.tables import read_table

        df = read_table(path)
        if not {"word", "synonym"} <= set(df.columns):
            raise DomaintuneError(f"{path}: a synonym table needs columns 'word' and 'synonym'; "
                                  f"found {list(df.columns)}")
        table: dict[str, list[str]] = defaultdict(list)
        for w, s in zip(df["word"], df["synonym"], strict=True):
            if w.strip() and s.strip():
                table[w.strip().lower()].append(s.strip())
                table[s.strip().lower()].append(w.strip())
        return dict(table)
    try:
        from nltk.corpus import wordnet

        wordnet.synsets("good")  # raises LookupError when the WordNet data is not installed
    except (ImportError, LookupError):
        return None

    class _WordNet(dict):
        def get(self, word, default=None):
            names = {lem.name().replace("_", " ") for s in wordnet.synsets(word) for lem in s.lemmas()}
            names.discard(word)
            return sorted(names) or default

    return _WordNet()


def eda(text: str, rng: random.Random, synonyms: dict | None, synonym_rate: float, insert_rate: float,
        swap_rate: float, delete_rate: float) -> str:
    words = text.split()
    if len(words) < 2:
        return text
    n = len(words)
    if synonyms is not None:
        for _ in range(max(0, round(synonym_rate * n))):
            i = rng.randrange(len(words))
            options = synonyms.get(words[i].lower())
            if options:
                words[i] = rng.choice(options)
        for _ in range(max(0, round(insert_rate * n))):
            options = synonyms.get(rng.choice(words).lower())
            if options:
                words.insert(rng.randrange(len(words) + 1), rng.choice(options))
    for _ in range(max(0, round(swap_rate * n))):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    kept = [w for w in words if rng.random() >= delete_rate]
    return " ".join(kept or [rng.choice(words)])


def augment(df: pd.DataFrame, cfg) -> pd.DataFrame:
    """Training rows plus `cfg.copies` perturbed copies of each (same labels)."""
    if not cfg.enabled:
        return df
    synonyms = load_synonyms(cfg.synonyms)
    if synonyms is None:
        log.info("augmentation: no synonym source (data.augmentation.synonyms or nltk WordNet): swap, delete only")
    rng = random.Random(cfg.seed)
    extra = [{"text": eda(t, rng, synonyms, cfg.synonym_rate, cfg.insert_rate, cfg.swap_rate, cfg.delete_rate),
              "labels": labs}
             for _ in range(cfg.copies) for t, labs in zip(df["text"], df["labels"], strict=True)]
    out = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    out.attrs.update(df.attrs)
    return out
