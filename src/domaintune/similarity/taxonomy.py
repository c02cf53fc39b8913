"""Graded similarity pairs from a taxonomy (concepts with labels and a hierarchical code such as ISCO-08).

Two labels of the same concept score high; concepts sharing a long code prefix (the same leaf group)
score mid; a shorter prefix (a higher group) lower; different top-level groups low. Concepts are split
into train / validation / test *before* any pair is made, so no test concept leaks into training.

Pairs are generated as a stream: the memory held is the concept index plus the set of pairs already
written (for de-duplication), so it grows with the output, never with the square of the input.

Multilingual (`translations`): the same taxonomy in other languages, aligned by concept id. The split is made
once, by concept, for all languages; pairs are made in each language and, with `cross_lingual`, between every
two languages (the first text in one, the second in the other, the same graded scheme). Retrieval can then ask
a query in one language for the concepts named in another.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from domaintune.core.resources import resolve_builtin
from domaintune.core.tables import read_table
from domaintune.errors import DomaintuneError
from domaintune.similarity.recipe import TaxonomyConfig


def _stable_key(a: str, b: str) -> int:
    """Order-free 64-bit key of a pair; stable across processes (unlike hash()), so runs repeat exactly."""
    lo, hi = (a, b) if a < b else (b, a)
    return int.from_bytes(hashlib.blake2b(f"{lo}\x00{hi}".encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Concept:
    id: str
    preferred: str
    alternatives: tuple[str, ...]
    code: str

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.preferred, *self.alternatives)


def load_taxonomy(cfg: TaxonomyConfig) -> list[Concept]:
    path = resolve_builtin(cfg.path)
    df = read_table(path)
    cols = [cfg.id_column, cfg.preferred_column, cfg.alternatives_column, cfg.code_column]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DomaintuneError(f"{path}: missing taxonomy column(s) {missing}; found {list(df.columns)}")
    concepts, seen = [], set()
    for i, row in enumerate(df[cols].itertuples(index=False), start=1):
        cid, pref, alts, code = (str(v).strip() for v in row)
        if not cid or not pref:
            raise DomaintuneError(f"{path}: row {i}: empty {'id' if not cid else 'preferred label'}")
        if cid in seen:
            raise DomaintuneError(f"{path}: row {i}: concept id {cid!r} appears twice")
        seen.add(cid)
        sep = cfg.alternatives_separator
        alt = tuple(dict.fromkeys(a.strip() for a in alts.split(sep) if a.strip() and a.strip() != pref))
        concepts.append(Concept(cid, pref, alt, code))
    return concepts


def language_of(path: str) -> str:
    """A short name for a taxonomy's language: builtin:esco_de -> de; occupations_fr.csv -> fr (a 2-3 letter
    last part of the file name after _ or -); any other file -> its name without suffixes."""
    stem = path.removeprefix("builtin:") if path.startswith("builtin:") else Path(path).name.split(".")[0]
    last = stem.replace("-", "_").split("_")[-1]
    return last if 2 <= len(last) <= 3 and last.isalpha() and last != stem else stem


def load_languages(cfg: TaxonomyConfig) -> dict[str, list[Concept]]:
    """{language: concepts}, every translation aligned to the base taxonomy's concept order by id."""
    base = load_taxonomy(cfg)
    langs = {language_of(cfg.path): base}
    for path in cfg.translations:
        name = language_of(path)
        if name in langs:
            raise DomaintuneError(f"data.taxonomy.translations: language {name!r} ({path}) given twice")
        other = {c.id: c for c in load_taxonomy(cfg.model_copy(update={"path": path, "translations": []}))}
        missing = [c.id for c in base if c.id not in other]
        if missing:
            raise DomaintuneError(f"{resolve_builtin(path)}: concept id {missing[0]!r} of {cfg.path} is missing "
                                  f"({len(missing)} in all); a translation must hold the same concept ids")
        langs[name] = [other[c.id] for c in base]
    return langs


def split_concepts(concepts: list[Concept], validation_fraction: float, test_fraction: float,
                   seed: int) -> dict[str, list[Concept]]:
    """Split by concept (not by pair), seeded."""
    order = list(range(len(concepts)))
    random.Random(seed).shuffle(order)
    n_test = int(round(len(concepts) * test_fraction))
    n_val = int(round(len(concepts) * validation_fraction))
    pick = lambda idx: [concepts[i] for i in sorted(idx)]  # noqa: E731
    return {
        "test": pick(order[:n_test]),
        "validation": pick(order[n_test:n_test + n_val]),
        "train": pick(order[n_test + n_val:]),
    }


def iter_pairs(concepts: list[Concept], cfg: TaxonomyConfig, seed: int,
               partner: list[Concept] | None = None) -> Iterator[tuple[str, str, float]]:
    """Yield (text_a, text_b, score), balanced across levels, de-duplicated, streaming. With `partner` (the same
    concepts in another language, aligned), the second text of each pair comes from the partner: cross-lingual
    pairs, including two names of the same concept."""
    rng = random.Random(seed)
    other = partner if partner is not None else concepts
    levels = sorted(cfg.levels, key=lambda lv: -lv[0])  # most specific prefix first
    groups = [defaultdict(list) for _ in levels]
    top = defaultdict(list)
    for idx, c in enumerate(concepts):
        for g, (prefix, _) in zip(groups, levels, strict=True):
            g[c.code[:prefix]].append(idx)
        top[c.code[:1]].append(idx)
    seen: set[int] = set()
    k = cfg.pairs_per_concept

    def emit(a: str, b: str, score: float):
        if a == b:
            return None
        key = _stable_key(a, b)
        if key in seen:
            return None
        seen.add(key)
        if partner is not None:  # keep the language order: the first text in the base language
            return a, b, score
        return (a, b, score) if rng.random() < 0.5 else (b, a, score)

    order = list(range(len(concepts)))
    rng.shuffle(order)
    for idx in order:
        c = concepts[idx]
        same = _synonym_pairs(c, k, rng) if partner is None else _translation_pairs(c, other[idx], k, rng)
        for a, b in same:
            row = emit(a, b, cfg.same_concept_score)
            if row:
                yield row
        # each level: partners share exactly this prefix (not the more specific one above it)
        for li, (prefix, score) in enumerate(levels):
            members = groups[li][c.code[:prefix]]
            closer = levels[li - 1][0] if li > 0 else None
            for _ in range(k):
                for _try in range(8):  # rejection sampling: O(k) per concept, no candidate lists built
                    j = members[rng.randrange(len(members))]
                    if j != idx and (closer is None or concepts[j].code[:closer] != c.code[:closer]):
                        row = emit(rng.choice(c.labels), rng.choice(other[j].labels), score)
                        if row:
                            yield row
                        break
        # different top-level group
        for _ in range(k):
            for _try in range(8):
                j = rng.randrange(len(concepts))
                if concepts[j].code[:1] != c.code[:1]:
                    row = emit(rng.choice(c.labels), rng.choice(other[j].labels), cfg.different_top_score)
                    if row:
                        yield row
                    break


def _synonym_pairs(c: Concept, k: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to k label pairs of one concept: preferred-alternative first, then alternative-alternative."""
    if not c.alternatives:
        return []
    alts = list(c.alternatives)
    rng.shuffle(alts)
    cands = [(c.preferred, a) for a in alts[:k]]
    if len(alts) > 1 and len(cands) < k:
        more = [(alts[i], alts[j]) for i in range(len(alts)) for j in range(i + 1, len(alts))]
        cands += more[: k - len(cands)]
    return cands


def _translation_pairs(c: Concept, t: Concept, k: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to k (label in one language, label of the same concept in another): preferred-preferred first."""
    cands = [(c.preferred, t.preferred)]
    rest = [(a, b) for a in c.labels for b in t.labels if (a, b) != (c.preferred, t.preferred)]
    rng.shuffle(rest)
    return (cands + rest)[:k]


def iter_hard_negative_triplets(concepts: list[Concept], cfg: TaxonomyConfig, seed: int,
                                partner: list[Concept] | None = None) -> Iterator[tuple[str, str, str]]:
    """(anchor, positive, hard negative), shaped like the retrieval task the model is judged on: an alternative
    label as the anchor (the query), its concept's preferred label as the positive (the answer), and the
    *preferred* label of the closest other concept the hierarchy offers as the negative (same leaf group if
    possible, else the next level up): the wrong answer a searcher is most likely to return. When a concept has
    fewer than k alternatives, alternative-alternative pairs fill up, with a random label of the sibling.

    With `partner` (the same concepts in another language, aligned) the triplets are cross-lingual, shaped like
    cross-lingual retrieval: any label in this language as the anchor, the preferred labels of the concept and
    of its sibling in the partner's language as positive and negative.

    Measured on the demo (bench/RESULTS.md): random label orientation and a random sibling label gave MRR@10
    +0.0486; this retrieval-shaped orientation gives more, at the same steps."""
    rng = random.Random(seed)
    prefixes = sorted({p for p, _ in cfg.levels} | {1}, reverse=True)
    groups = {p: defaultdict(list) for p in prefixes}
    for idx, c in enumerate(concepts):
        for p in prefixes:
            groups[p][c.code[:p]].append(idx)

    def sibling(idx: int) -> int:
        c = concepts[idx]
        for p in prefixes:
            members = groups[p][c.code[:p]]
            for _try in range(8):
                j = members[rng.randrange(len(members))]
                if j != idx:
                    return j
        while True:  # a one-concept top group: any other concept will do
            j = rng.randrange(len(concepts))
            if j != idx:
                return j

    seen: set[int] = set()
    order = list(range(len(concepts)))
    rng.shuffle(order)
    for idx in order:
        c = concepts[idx]
        if partner is not None:
            anchors = list(c.labels)
            rng.shuffle(anchors)
            for a in anchors[:cfg.pairs_per_concept]:
                yield a, partner[idx].preferred, partner[sibling(idx)].preferred
            continue
        for a, b in _synonym_pairs(c, cfg.pairs_per_concept, rng):
            key = _stable_key(a, b)
            if a == b or key in seen:
                continue
            seen.add(key)
            sib = concepts[sibling(idx)]
            if a == c.preferred:  # query = the alternative, answer = the preferred label, as in retrieval
                yield b, a, sib.preferred
            else:
                yield (a, b, rng.choice(sib.labels)) if rng.random() < 0.5 else (b, a, rng.choice(sib.labels))


def write_pairs_csv(path: Path, rows: Iterator[tuple], header: tuple[str, ...] = ("text_a", "text_b", "score")) -> int:
    """Stream rows to a CSV (atomically: a .tmp file renamed at the end). Returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    tmp.replace(path)
    return n


def build_pairs(cfg: TaxonomyConfig, out_dir: Path) -> dict:
    """Split the taxonomy by concept and write train/validation/test pair files plus the split itself. With
    translations: pairs in every language and (cross_lingual) between every two, in both directions."""
    langs = load_languages(cfg)
    concepts = next(iter(langs.values()))
    if len(concepts) < 10:
        raise DomaintuneError(f"{cfg.path}: only {len(concepts)} concepts; need at least 10 to split")
    # one split for all languages: the lists are aligned, so the same seeded order picks the same concepts
    splits = {lang: split_concepts(cs, cfg.validation_fraction, cfg.test_fraction, cfg.seed)
              for lang, cs in langs.items()}
    base = splits[language_of(cfg.path)]
    names = list(langs)
    directions = [(a, b) for a in names for b in names if a != b] if cfg.cross_lingual else []

    def pairs(split: str, seed: int):
        for lang in names:
            yield from iter_pairs(splits[lang][split], cfg, seed)
        for a, b in directions:
            if a < b:  # graded pairs are symmetric: one direction per language pair
                yield from iter_pairs(splits[a][split], cfg, seed, partner=splits[b][split])

    def triplets(seed: int):
        for lang in names:
            yield from iter_hard_negative_triplets(splits[lang]["train"], cfg, seed)
        for a, b in directions:  # retrieval is asked both ways
            yield from iter_hard_negative_triplets(splits[a]["train"], cfg, seed, partner=splits[b]["train"])

    out_dir = Path(out_dir)
    counts = {}
    for offset, (name, cs) in enumerate(base.items()):
        if cs:
            counts[name] = write_pairs_csv(out_dir / f"{name}.csv", pairs(name, cfg.seed + offset))
    if base["train"]:
        counts["train_hard_negatives"] = write_pairs_csv(
            out_dir / "train_hard_negatives.csv", triplets(cfg.seed), header=("text_a", "text_b", "negative"))
    split_rows = ((c.id, name) for name, cs in base.items() for c in cs)
    tmp = out_dir / ".concept_split.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["concept_id", "split"])
        w.writerows(split_rows)
    tmp.replace(out_dir / "concept_split.csv")
    return {"pairs": counts, "concepts": {k: len(v) for k, v in base.items()}, "languages": names}


def retrieval_task(cfg: TaxonomyConfig, max_queries: int, seed: int, split: str = "test",
                   query_language: str | None = None, corpus_language: str | None = None):
    """Held-out retrieval: an alternative label of a test concept as the query, its preferred label as
    the answer, searched among the preferred labels of *all* concepts.

    Cross-lingual (query_language != corpus_language, languages from data.taxonomy.path / translations): any
    label of a held-out concept in the query language (its preferred label too: it is not the answer's text)
    asks for the concept's preferred label in the corpus language, among all concepts in that language.
    query_language="all": queries in every language at once (the validation task of a multilingual run).

    Returns (queries {qid: text}, corpus {cid: text}, relevant {qid: {cid}}).
    """
    langs = load_languages(cfg) if (query_language or corpus_language) else {language_of(cfg.path): load_taxonomy(cfg)}
    base = language_of(cfg.path)
    c_lang = corpus_language or base
    q_langs = list(langs) if query_language == "all" else [query_language or base]
    for lang in (*q_langs, c_lang):
        if lang not in langs:
            raise DomaintuneError(f"retrieval: language {lang!r} is not in data.taxonomy (path or translations): "
                                  f"{', '.join(langs)}")
    corpus = {c.id: c.preferred for c in langs[c_lang]}
    pairs = []
    for q_lang in q_langs:  # "all": names in every language ask for the concept named in the corpus language
        test = split_concepts(langs[q_lang], cfg.validation_fraction, cfg.test_fraction, cfg.seed)[split]
        if q_lang == c_lang:
            pairs += [(c.id, a) for c in test for a in c.alternatives]
        else:
            pairs += [(c.id, a) for c in test for a in c.labels]
    rng = random.Random(seed)
    if len(pairs) > max_queries:
        pairs = rng.sample(pairs, max_queries)
    queries = {f"q{i}": text for i, (_, text) in enumerate(pairs)}
    relevant = {f"q{i}": {cid} for i, (cid, _) in enumerate(pairs)}
    return queries, corpus, relevant


def retrieval_tasks(cfg: TaxonomyConfig, max_queries: int, seed: int, cross_lingual: bool = True,
                    split: str = "test") -> dict[str, tuple]:
    """{evaluator name: retrieval task}: `retrieval` in the base language, plus (with translations and
    cross_lingual) `retrieval_<q>_<c>` both ways between the base language and each translation."""
    tasks = {"retrieval": retrieval_task(cfg, max_queries, seed, split)}
    if cfg.translations and cross_lingual:
        base = language_of(cfg.path)
        for other in (language_of(p) for p in cfg.translations):
            for q, c in ((base, other), (other, base)):
                tasks[f"retrieval_{q}_{c}"] = retrieval_task(cfg, max_queries, seed, split, q, c)
    return tasks


def labelled_titles(cfg: TaxonomyConfig, level: int, out: Path, alternatives: bool = True) -> dict:
    """A classification file from a taxonomy: each label of each concept (preferred, and alternatives when
    asked) with the concept's code cut to `level` characters as its class (ESCO: 1 = ISCO major group)."""
    concepts = load_taxonomy(cfg)
    rows = ((text, c.code[:level]) for c in concepts for text in (c.labels if alternatives else (c.preferred,)))
    n = write_pairs_csv(Path(out), rows, header=("text", "label"))
    return {"rows": n, "classes": len({c.code[:level] for c in concepts})}
