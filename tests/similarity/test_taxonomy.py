import tracemalloc

import pandas as pd
import pytest

from domaintune.errors import DomaintuneError
from domaintune.similarity.recipe import TaxonomyConfig
from domaintune.similarity.taxonomy import (
    Concept,
    build_pairs,
    iter_pairs,
    load_taxonomy,
    retrieval_task,
    split_concepts,
)


def test_split_by_concept_no_leak(tmp_path, tiny_taxonomy):
    cfg = TaxonomyConfig(path=str(tiny_taxonomy), pairs_per_concept=3)
    stats = build_pairs(cfg, tmp_path)
    assert set(stats["pairs"]) == {"train", "validation", "test", "train_hard_negatives"}
    concepts = {c.id: c for c in load_taxonomy(cfg)}
    split = pd.read_csv(tmp_path / "concept_split.csv", dtype=str)
    labels = {name: {lab for cid in split[split.split == name].concept_id for lab in concepts[cid].labels}
              for name in ("train", "validation", "test")}
    train = pd.read_csv(tmp_path / "train.csv", dtype={"text_a": str, "text_b": str})
    hard = pd.read_csv(tmp_path / "train_hard_negatives.csv", dtype=str)
    train_texts = set(train.text_a) | set(train.text_b) | set(hard.text_a) | set(hard.text_b) | set(hard.negative)
    only_test = labels["test"] - labels["train"] - labels["validation"]
    assert only_test and not (train_texts & only_test)


def test_levels_are_exact_and_balanced():
    concepts = [Concept(f"c{i}", f"label {i}", (f"alt {i} a", f"alt {i} b"), code)
                for i, code in enumerate(["1111", "1122", "1211", "1222", "2111", "2122", "2211", "2222"] * 10)]
    cfg = TaxonomyConfig(levels=[(4, 0.7), (2, 0.4)], pairs_per_concept=2)
    code = {lab: c.code for c in concepts for lab in c.labels}
    owner = {lab: c.id for c in concepts for lab in c.labels}
    rows = list(iter_pairs(concepts, cfg, seed=0))
    seen = set()
    for a, b, s in rows:
        key = tuple(sorted((a, b)))
        assert key not in seen  # de-duplicated
        seen.add(key)
        if owner[a] == owner[b]:
            assert s == 1.0
        elif code[a] == code[b]:
            assert s == 0.7
        elif code[a][:2] == code[b][:2]:
            assert s == 0.4
        elif code[a][0] != code[b][0]:
            assert s == 0.0
    counts = pd.Series([s for *_, s in rows]).value_counts()
    assert set(counts.index) == {1.0, 0.7, 0.4, 0.0}
    assert counts.max() <= 2 * counts.min()


def test_deterministic():
    concepts = [Concept(f"c{i}", f"l{i}", (f"a{i}",), f"{i % 3}{i % 5}00") for i in range(50)]
    cfg = TaxonomyConfig()
    assert list(iter_pairs(concepts, cfg, 3)) == list(iter_pairs(concepts, cfg, 3))


def _peak(n: int) -> int:
    concepts = [Concept(f"c{i}", f"label {i}", (f"alt {i}",), f"{i % 9}{i % 7}{i % 5}{i % 3}") for i in range(n)]
    cfg = TaxonomyConfig(pairs_per_concept=2)
    tracemalloc.start()
    count = sum(1 for _ in iter_pairs(concepts, cfg, 0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, count


def test_memory_grows_with_output_not_square_of_input():
    (p1, c1), (p4, c4) = _peak(2000), _peak(8000)
    assert 3 < c4 / c1 < 5  # output grows linearly with the input
    assert p4 / p1 < 6  # a square-of-input generator would be ~16x


def test_retrieval_queries_are_held_out(tiny_taxonomy):
    cfg = TaxonomyConfig(path=str(tiny_taxonomy))
    queries, corpus, relevant = retrieval_task(cfg, max_queries=50, seed=0)
    concepts = load_taxonomy(cfg)
    test_ids = {c.id for c in split_concepts(concepts, cfg.validation_fraction, cfg.test_fraction, cfg.seed)["test"]}
    assert len(corpus) == len(concepts) and 0 < len(queries) <= 50
    for qid, rel in relevant.items():
        assert rel <= test_ids
        cid = next(iter(rel))
        assert queries[qid] in next(c for c in concepts if c.id == cid).alternatives


def test_hard_negatives_come_from_the_closest_other_concept():
    from domaintune.similarity.taxonomy import iter_hard_negative_triplets

    concepts = [Concept(f"c{i}", f"label {i}", (f"alt {i} a", f"alt {i} b"), code)
                for i, code in enumerate(["1111", "1111", "1122", "2111", "2111", "2122"] * 2)]
    owner = {lab: c for c in concepts for lab in c.labels}
    rows = list(iter_hard_negative_triplets(concepts, TaxonomyConfig(pairs_per_concept=2), seed=0))
    assert rows
    for a, p, n in rows:
        assert owner[a].id == owner[p].id != owner[n].id
        assert owner[n].code == owner[a].code  # every code here has a sibling concept in its leaf group


def test_hard_negative_triplets_are_shaped_like_retrieval():
    """Alternative label -> its preferred label, against a sibling's preferred label (the likely wrong answer)."""
    from domaintune.similarity.taxonomy import iter_hard_negative_triplets

    concepts = [Concept(f"c{i}", f"label {i}", (f"alt {i} a",), code)
                for i, code in enumerate(["1111", "1111", "2111", "2111"])]
    owner = {lab: c for c in concepts for lab in c.labels}
    rows = list(iter_hard_negative_triplets(concepts, TaxonomyConfig(pairs_per_concept=2), seed=0))
    assert len(rows) == 4
    for a, p, n in rows:
        assert a in owner[a].alternatives and p == owner[a].preferred
        assert n == owner[n].preferred and owner[n].id != owner[a].id


def test_labelled_titles_from_a_taxonomy(tiny_taxonomy, tmp_path):
    from domaintune.similarity.taxonomy import labelled_titles

    cfg = TaxonomyConfig(path=str(tiny_taxonomy))
    stats = labelled_titles(cfg, 1, tmp_path / "t.csv", alternatives=False)
    df = pd.read_csv(tmp_path / "t.csv", dtype=str)
    assert list(df.columns) == ["text", "label"] and len(df) == stats["rows"] == 120
    assert set(df.label) <= set("0123456789") and stats["classes"] == df.label.nunique()
    more = labelled_titles(cfg, 2, tmp_path / "t2.csv")
    assert more["rows"] > 120 and pd.read_csv(tmp_path / "t2.csv", dtype=str).label.str.len().eq(2).all()


def test_multilingual_pairs_split_by_concept_in_every_language(tiny_multilingual, tmp_path):
    p = tiny_multilingual
    cfg = TaxonomyConfig(path=str(p["en"]), translations=[str(p["de"]), str(p["es"])], pairs_per_concept=3)
    stats = build_pairs(cfg, tmp_path)
    assert stats["languages"] == ["en", "de", "es"]
    langs = {lang: {c.id: c for c in load_taxonomy(TaxonomyConfig(path=str(path)))} for lang, path in p.items()}
    label_lang = {lab: lang for lang, cs in langs.items() for c in cs.values() for lab in c.labels}
    concept_of = {lab: c.id for cs in langs.values() for c in cs.values() for lab in c.labels}
    split = pd.read_csv(tmp_path / "concept_split.csv", dtype=str)
    test_ids = set(split[split.split == "test"].concept_id)
    train = pd.read_csv(tmp_path / "train.csv", dtype=str, keep_default_na=False)
    kinds = set()
    for a, b, score in train.itertuples(index=False):
        assert concept_of[a] not in test_ids and concept_of[b] not in test_ids  # no test concept in any language
        kinds.add((*sorted((label_lang[a], label_lang[b])), float(score) == 1.0))
    # monolingual pairs in each language and cross-lingual pairs, same-concept (1.0) among them
    for lang in ("en", "de", "es"):
        assert (lang, lang, True) in kinds
    assert ("de", "en", True) in kinds and ("en", "es", True) in kinds and ("de", "es", True) in kinds
    triplets = pd.read_csv(tmp_path / "train_hard_negatives.csv", dtype=str, keep_default_na=False)
    directions = {(label_lang[a], label_lang[b]) for a, b, _ in triplets.itertuples(index=False)}
    assert {("en", "de"), ("de", "en"), ("en", "es"), ("es", "en"), ("de", "de")} <= directions
    for a, b, neg in triplets.itertuples(index=False):
        assert concept_of[a] == concept_of[b] != concept_of[neg] and label_lang[b] == label_lang[neg]


def test_cross_lingual_retrieval_asks_in_one_language_for_another(tiny_multilingual):
    from domaintune.similarity.taxonomy import retrieval_tasks

    p = tiny_multilingual
    cfg = TaxonomyConfig(path=str(p["en"]), translations=[str(p["de"])])
    tasks = retrieval_tasks(cfg, max_queries=40, seed=0)
    assert set(tasks) == {"retrieval", "retrieval_en_de", "retrieval_de_en"}
    de = {c.id: c for c in load_taxonomy(TaxonomyConfig(path=str(p["de"])))}
    en = {c.id: c for c in load_taxonomy(TaxonomyConfig(path=str(p["en"])))}
    queries, corpus, relevant = tasks["retrieval_en_de"]
    assert set(corpus.values()) == {c.preferred for c in de.values()}
    for qid, rel in relevant.items():
        cid = next(iter(rel))
        assert queries[qid] in en[cid].labels
    bad = TaxonomyConfig(path=str(p["en"]), translations=[str(p["de"])])
    pd.read_csv(p["de"], dtype=str).iloc[1:].to_csv(p["de"].with_name("esco_xx.csv"), index=False)
    bad.translations = [str(p["de"].with_name("esco_xx.csv"))]
    with pytest.raises(DomaintuneError, match="esco_xx.csv: concept id .* is missing"):
        retrieval_tasks(bad, max_queries=40, seed=0)


def test_validation_retrieval_in_all_languages(tiny_multilingual):
    p = tiny_multilingual
    cfg = TaxonomyConfig(path=str(p["en"]), translations=[str(p["de"]), str(p["es"])])
    queries, corpus, relevant = retrieval_task(cfg, 10_000, 0, split="validation", query_language="all")
    names = {lang: {lab for c in load_taxonomy(TaxonomyConfig(path=str(path))) for lab in c.labels}
             for lang, path in p.items()}
    assert set(corpus.values()) <= names["en"]
    assert all(any(q in names[lang] for q in queries.values()) for lang in ("en", "de", "es"))
