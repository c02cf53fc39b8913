"""Property-based tests of every reader: arbitrary bytes, and text shaped like the format, give either a valid
result or a DomaintuneError (one line for the user), never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domaintune.errors import DomaintuneError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cell = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
num = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10, 10).map(str), cell)


def csv_text(columns: list[str], values=cell, rows=8) -> st.SearchStrategy[str]:
    """A header with some of the expected columns (and maybe an unexpected one), then rows of arbitrary cells,
    joined with commas (quotes, newlines and commas inside cells included)."""
    header = st.lists(st.sampled_from([*columns, "other", ""]), min_size=1, max_size=len(columns) + 1)
    return st.tuples(header, st.lists(st.lists(values, min_size=0, max_size=5), max_size=rows)).map(
        lambda hr: "\n".join([",".join(hr[0])] + [",".join(r) for r in hr[1]]) + "\n")


def jsonl_text(keys: list[str]) -> st.SearchStrategy[str]:
    value = st.one_of(cell, st.integers(), st.floats(allow_nan=False), st.none(), st.lists(cell, max_size=3))
    row = st.dictionaries(st.sampled_from([*keys, "x"]), value, max_size=len(keys) + 1)
    line = st.one_of(row.map(json.dumps), cell, st.just("[1, 2]"))
    return st.lists(line, max_size=6).map(lambda lines: "\n".join(lines) + "\n")


def ner_jsonl_text() -> st.SearchStrategy[str]:
    span = st.fixed_dictionaries({"start": st.integers(-2, 30), "end": st.integers(-2, 30)},
                                 optional={"label": st.one_of(cell, st.integers())})
    row = st.fixed_dictionaries({}, optional={"text": st.one_of(cell, st.integers()),
                                              "spans": st.one_of(st.lists(span, max_size=3), cell)})
    line = st.one_of(row.map(json.dumps), cell)
    return st.lists(line, max_size=5).map(lambda lines: "\n".join(lines) + "\n")


def conll_text() -> st.SearchStrategy[str]:
    tag = st.one_of(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "E-LOC", "S-ORG", "I-ORG", "X-Y"]), cell)
    line = st.one_of(st.tuples(cell, tag).map(" ".join), st.just(""), st.just("-DOCSTART- -X- O O"), cell)
    return st.lists(line, max_size=12).map(lambda lines: "\n".join(lines) + "\n")


def write(content: str | bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / f"data{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def valid_or_user_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DomaintuneError as e:
        assert "\n" not in str(e).strip(), str(e)
        return None


@SETTINGS
@given(st.one_of(st.binary(max_size=300), csv_text(["text_a", "text_b", "score"], num).map(str.encode),
                 jsonl_text(["text_a", "text_b", "score"]).map(str.encode)), st.sampled_from([".csv", ".jsonl"]),
       st.sampled_from(["auto", "0-1", "0-5"]), st.sampled_from(["error", "skip"]))
def test_pairs_reader(content, suffix, score_range, on_bad_rows):
    from domaintune.core.pairs import load_pairs

    out = valid_or_user_error(load_pairs, write(content, suffix), score_range=score_range, on_bad_rows=on_bad_rows)
    if out is not None:
        df, _ = out
        assert len(df) > 0 and df["score"].between(0, 1).all()
        assert (df["text_a"].str.strip() != "").all() and (df["text_b"].str.strip() != "").all()


@SETTINGS
@given(st.one_of(st.binary(max_size=300), csv_text(["text", "label"]).map(str.encode),
                 jsonl_text(["text", "label"]).map(str.encode)), st.sampled_from([".csv", ".jsonl", ".tsv"]),
       st.booleans(), st.sampled_from(["error", "skip"]))
def test_labelled_texts_reader(content, suffix, multi_label, on_bad_rows):
    from domaintune.classification.data import load_labelled

    df = valid_or_user_error(load_labelled, write(content, suffix), multi_label=multi_label, on_bad_rows=on_bad_rows)
    if df is not None:
        assert len(df) > 0 and all(isinstance(labs, list) and labs for labs in df["labels"])


@SETTINGS
@given(st.one_of(st.binary(max_size=300), conll_text().map(str.encode)),
       st.sampled_from(["auto", "iob1", "iob2", "bioes"]), st.one_of(st.none(), conll_text().map(str.encode)))
def test_conll_reader(content, scheme, test_content):
    """The whole NER data step (read, scheme, tag set, the test file's tags against it), not the reader alone:
    a tag outside its scheme used to pass the reader and fail later with a KeyError."""
    from domaintune.ner.data import Sentence
    from domaintune.ner.recipe import NERRecipe
    from domaintune.ner.task import load_data

    path = write(content, ".conll")
    test = write(test_content, ".conll") if test_content is not None else None
    recipe = NERRecipe(task="ner", data={"train": str(path), "test": test and str(test), "scheme": scheme,
                                         "validation_fraction": 0.3})
    out = valid_or_user_error(load_data, recipe)
    if out is not None:
        train, val, test_rows, tags, _ = out
        allowed = set(tags)
        for part in (train, val, test_rows or []):
            assert all(isinstance(s, Sentence) and len(s.words) == len(s.tags) for s in part)
            assert all(t in allowed for s in part for t in s.tags)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), ner_jsonl_text().map(str.encode)))
def test_jsonl_spans_reader(content):
    from domaintune.ner.data import read_ner

    sentences = valid_or_user_error(read_ner, write(content, ".jsonl"))
    if sentences is not None:
        assert all(len(s.words) == len(s.tags) for s in sentences)


@SETTINGS
@given(st.one_of(st.binary(max_size=300),
                 csv_text(["concept_id", "preferred_label", "alt_labels", "isco_group"]).map(str.encode)))
def test_taxonomy_reader(content):
    from domaintune.similarity.recipe import TaxonomyConfig
    from domaintune.similarity.taxonomy import load_taxonomy

    concepts = valid_or_user_error(load_taxonomy, TaxonomyConfig(path=str(write(content, ".csv"))))
    if concepts is not None:
        assert len({c.id for c in concepts}) == len(concepts)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                 csv_text(["text"]).map(str.encode)), st.sampled_from([".txt", ".csv"]),
       st.sampled_from(["line", "blank_line"]))
def test_mlm_corpus_reader(content, suffix, split):
    from domaintune.mlm.data import read_documents

    docs = valid_or_user_error(read_documents, write(content, suffix), split=split)
    if docs is not None:
        assert docs and all(d.strip() for d in docs)


yaml_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), cell),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(cell, inner, max_size=3)), max_leaves=8)
recipe_dict = st.dictionaries(
    st.sampled_from(["task", "model", "data", "training", "evaluation", "output", "strategy", "stages", "x"]),
    st.one_of(yaml_value, st.sampled_from(["similarity", "classification", "fewshot", "mlm", "ner", "pipeline"]),
              st.dictionaries(st.sampled_from(["name", "epochs", "batch_size", "train", "scheme", "dir", "loss"]),
                              yaml_value, max_size=3)), max_size=4)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), recipe_dict.map(lambda d: json.dumps(d).encode())))
def test_recipe_reader(content):
    from domaintune.registry import load_recipe

    recipe = valid_or_user_error(load_recipe, write(content, ".yaml"))
    if recipe is not None:
        assert recipe.task in ("similarity", "classification", "fewshot", "mlm", "ner", "pipeline")


@pytest.mark.parametrize("override", ["training.epochs", "training.epochs=abc", "model=3", "data.train.x=1",
                                      "=1", "task=nope", "stages=[{task: pipeline}]"])
def test_recipe_overrides_give_user_errors(override):
    from domaintune.registry import load_recipe

    valid_or_user_error(load_recipe, None, [override])
