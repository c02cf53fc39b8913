"""Hard negatives mined for positive-only pairs (query, relevant text), with sentence-transformers'
`mine_hard_negatives`: each pair's anchor is embedded by the base model, the other pairs' positives are ranked by
similarity, and a negative is taken from ranks `range_min`..`range_max` that scores below the positive by the
margin (the closest ranks are skipped: there sit the unlabelled positives, which would be false negatives).

Memory: embeddings are computed once and cached as .npy files (in the run folder, or beside the output of
`domaintune data mine-negatives`), and queries are scored against the corpus `query_batch_size` at a time, so
the largest intermediate is query_batch_size x corpus: memory grows with the corpus, never with its square
(tests/similarity/test_mining.py checks it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from domaintune.core.io import atomic_write_text
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


def mine_negatives(pairs: pd.DataFrame, model, cfg, cache_dir: Path, corpus: list[str] | None = None,
                   never: set[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """(text_a, text_b, negative) rows: `cfg.num_negatives` rows per pair that found that many negatives (a pair
    with none left after the range and margin is dropped, and counted in the log). `cfg`: similarity's MiningConfig.
    `corpus`: the candidates (default: the pairs' positives); `never`: (anchor, text) pairs that are judged
    relevant and so are dropped wherever they come back as a negative."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    if len(pairs) < 2:
        raise DomaintuneError("hard-negative mining needs at least 2 positive pairs (the other pairs' texts are the "
                              "candidates)")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    corpus = list(dict.fromkeys(corpus if corpus is not None else pairs["text_b"].tolist()))
    range_max = min(cfg.range_max, len(corpus) - 1)
    range_min = min(cfg.range_min, max(range_max - cfg.num_negatives, 0))
    mined = mine_hard_negatives(
        Dataset.from_pandas(pairs[["text_a", "text_b"]], preserve_index=False), model,
        anchor_column_name="text_a", positive_column_name="text_b", corpus=corpus,
        range_min=range_min, range_max=range_max, relative_margin=cfg.relative_margin or None,
        num_negatives=cfg.num_negatives, sampling_strategy=cfg.sampling, output_format="triplet",
        batch_size=cfg.batch_size, faiss_batch_size=cfg.query_batch_size, cache_folder=str(cache_dir),
        verbose=False)
    out = mined.to_pandas()
    out.columns = ["text_a", "text_b", "negative"]
    # the same anchor's other positives (judged relevant, or another row's positive) are never its negatives
    positives = set(never) | set(zip(pairs["text_a"], pairs["text_b"], strict=True))
    keep = [(a, n) not in positives for a, n in zip(out["text_a"], out["negative"], strict=True)]
    if not all(keep):
        log.info("mining: %d negatives dropped as judged positives of their query", keep.count(False))
        out = out[keep].reset_index(drop=True)
    log.info("mined %d hard negatives for %d positive pairs (ranks %d-%d, relative margin %s, corpus %d texts)",
             len(out), len(pairs), range_min, range_max, cfg.relative_margin, len(corpus))
    if len(out) == 0:
        raise DomaintuneError("hard-negative mining found no negative within the range and margin; widen "
                              "mining.range_max or lower mining.relative_margin")
    return out


def write_triplets(df: pd.DataFrame, path: Path) -> None:
    """The rows as a pairs file any similarity recipe reads (score 1 = positive; the negative column is kept)."""
    atomic_write_text(path, df[["text_a", "text_b", "negative"]].assign(score=1.0).to_csv(index=False))
