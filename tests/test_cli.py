"""The CLI's promise: bad input gets one clear line naming what is wrong, never a traceback."""

import os
import subprocess
import sys

import pandas as pd
import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "domaintune", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=ENV, cwd=cwd)


def assert_one_line_error(res, *needles):
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    text = " ".join(res.stderr.split())
    assert text.startswith("error:"), res.stderr
    for n in needles:
        assert n in text, text


@pytest.fixture
def recipe(tmp_path):
    def make(rows=None, raw: bytes | None = None, extra=""):
        data = tmp_path / "pairs.csv"
        if raw is not None:
            data.write_bytes(raw)
        else:
            pd.DataFrame(rows).to_csv(data, index=False)
        r = tmp_path / "recipe.yaml"
        r.write_text(f"data:\n  train: {data}\noutput:\n  dir: {tmp_path / 'run'}\n{extra}")
        return r
    return make


GOOD = {"text_a": ["a", "b", "c", "d"], "text_b": ["e", "f", "g", "h"], "score": ["1", "2", "3", "4"]}


def test_csv_without_score_column(recipe):
    res = cli("train", recipe({"text_a": ["a"], "text_b": ["b"]}))
    assert_one_line_error(res, "pairs.csv", "missing column(s) 'score'")


@pytest.mark.parametrize("bad,needle", [("abc", "'abc' is not a number"), ("NaN", "not a finite number")])
def test_bad_score(recipe, bad, needle):
    rows = {k: list(v) for k, v in GOOD.items()}
    rows["score"][2] = bad
    assert_one_line_error(cli("train", recipe(rows)), "pairs.csv", "row 3", "column 'score'", needle)


def test_empty_text(recipe):
    rows = {k: list(v) for k, v in GOOD.items()}
    rows["text_a"][0] = ""
    assert_one_line_error(cli("train", recipe(rows)), "row 1", "column 'text_a'", "empty text")


def test_non_utf8(recipe):
    res = cli("train", recipe(raw="text_a,text_b,score\nna\xefve,x,1\n".encode("latin-1")))
    assert_one_line_error(res, "pairs.csv", "line 2 is not valid UTF-8")


def test_unknown_recipe_key(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text("trainig:\n  epochs: 1\n")
    assert_one_line_error(cli("train", r), "unknown key 'trainig'")


def test_occupied_output_folder_is_refused(recipe, tmp_path):
    r = recipe(GOOD)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    assert_one_line_error(cli("train", r), "already holds a run", "--resume", "--overwrite")


def test_init_and_help(tmp_path):
    res = cli("init", "similarity", "-o", tmp_path / "r.yaml")
    assert res.returncode == 0 and (tmp_path / "r.yaml").exists()
    assert cli("--help").returncode == 0


# ---------------------------------------------------------------- classification


@pytest.fixture
def cls_recipe(tmp_path):
    def make(train: dict | str, validation: dict | None = None, extra=""):
        data = tmp_path / "train.csv"
        if isinstance(train, str):
            data.write_text(train)
        else:
            pd.DataFrame(train).to_csv(data, index=False)
        val = ""
        if validation is not None:
            pd.DataFrame(validation).to_csv(tmp_path / "val.csv", index=False)
            val = f"  validation: {tmp_path / 'val.csv'}\n"
        r = tmp_path / "cls.yaml"
        r.write_text(f"task: classification\ndata:\n  train: {data}\n{val}output:\n  dir: {tmp_path / 'run'}\n{extra}")
        return r
    return make


def test_classification_one_class_only(cls_recipe):
    res = cli("train", cls_recipe({"text": ["a", "b", "c"], "label": ["x", "x", "x"]}))
    assert_one_line_error(res, "train.csv", "column 'label' holds one class only")


def test_classification_unseen_validation_label(cls_recipe):
    res = cli("train", cls_recipe({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]},
                                  {"text": ["e", "f"], "label": ["x", "z"]}))
    assert_one_line_error(res, "val.csv", "not seen in training", "row 2: 'z'")


def test_classification_empty_file(cls_recipe):
    assert_one_line_error(cli("train", cls_recipe("")), "train.csv", "the file is empty")


def test_classification_multi_label_row_in_single_label_task(cls_recipe):
    res = cli("train", cls_recipe({"text": ["a", "b", "c"], "label": ["x", "y|x", "y"]}))
    assert_one_line_error(res, "train.csv", "row 2, column 'label'", "data.multi_label is false")


def test_classification_unknown_strategy(cls_recipe):
    res = cli("train", cls_recipe({"text": ["a", "b"], "label": ["x", "y"]}, extra="strategy: dora\n"))
    assert_one_line_error(res, "unknown strategy 'dora'")


def test_predict_on_a_folder_that_is_not_a_classifier(tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    assert_one_line_error(cli("predict", tmp_path, "--input", tmp_path / "in.txt"), "not a domaintune classifier")


def test_ner_conll_line_without_tag(tmp_path):
    (tmp_path / "train.conll").write_text("John B-PER\nSmith\n")
    r = tmp_path / "ner.yaml"
    r.write_text(f"task: ner\ndata:\n  train: {tmp_path / 'train.conll'}\noutput:\n  dir: {tmp_path / 'run'}\n")
    assert_one_line_error(cli("train", r), "train.conll: line 2", "has no tag")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- rough edges a new user found (issue 13, item 7)


def test_output_dir_that_is_a_file_is_refused(recipe, tmp_path):
    r = recipe(GOOD)
    (tmp_path / "run").write_text("my notes")
    assert_one_line_error(cli("train", r), "output.dir is an existing file")
    assert (tmp_path / "run").read_text() == "my notes"


def test_embed_refuses_to_replace_an_existing_output(tmp_path, tiny_bert):
    (tmp_path / "in.txt").write_text("data scientist\nnurse\n")
    (tmp_path / "out.npy").write_bytes(b"precious")
    res = cli("embed", tiny_bert, "--input", tmp_path / "in.txt", "--output", tmp_path / "out.npy")
    assert_one_line_error(res, "out.npy: exists", "--overwrite")
    assert (tmp_path / "out.npy").read_bytes() == b"precious"
    res = cli("embed", tiny_bert, "--input", tmp_path / "in.txt", "--output", tmp_path / "out.npy", "--overwrite")
    assert res.returncode == 0, res.stderr
    import numpy as np

    assert np.load(tmp_path / "out.npy").shape == (2, 32)


def test_malformed_jsonl_line_is_named_by_its_line(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"text_a": "a", "text_b": "b", "score": 1}\n{"text_a": "c", "text_b": "d", "score": 2}\n'
                    '{"text_a": "e", "text_b": \n')
    r = tmp_path / "r.yaml"
    r.write_text(f"data:\n  train: {data}\noutput:\n  dir: {tmp_path / 'run'}\n")
    assert_one_line_error(cli("train", r), "pairs.jsonl: line 3 is not valid JSON")


@pytest.mark.parametrize("content", ["", "\n  \n", "# only a comment\n"])
def test_empty_recipe_is_refused(tmp_path, content):
    r = tmp_path / "r.yaml"
    r.write_text(content)
    assert_one_line_error(cli("train", r), "r.yaml: the recipe is empty", "task: similarity")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("content", ["{}\n", "task: similarity\n"])
def test_explicit_empty_recipe_means_all_defaults(tmp_path, content):
    from domaintune.registry import load_recipe
    from domaintune.similarity.recipe import SimilarityRecipe

    r = tmp_path / "r.yaml"
    r.write_text(content)
    assert load_recipe(r) == SimilarityRecipe()


def test_tag_scheme_names_in_any_case(tmp_path):
    from domaintune.registry import load_recipe

    for name in ("IOB2", "Bioes", "iob1", "AUTO"):
        assert load_recipe(None, ["task=ner", f"data.scheme={name}"]).data.scheme == name.lower()
    (tmp_path / "train.conll").write_text("John B-PER\nSmith\n")
    r = tmp_path / "ner.yaml"
    r.write_text(f"task: ner\ndata:\n  train: {tmp_path / 'train.conll'}\n  scheme: IOB3\n"
                 f"output:\n  dir: {tmp_path / 'run'}\n")
    assert_one_line_error(cli("train", r), "'data.scheme': unknown scheme", "iob2")


def test_ner_tag_outside_its_scheme(tmp_path):
    """X-PER under IOB2 used to pass the reader and end in a KeyError traceback."""
    data = tmp_path / "train.tsv"
    data.write_text("John\tB-PER\nlives\tO\nin\tO\nParis\tX-PER\n\nMary\tB-PER\nworks\tO\n")
    r = tmp_path / "r.yaml"
    r.write_text(f"task: ner\ndata:\n  train: {data}\n  scheme: iob2\noutput:\n  dir: {tmp_path / 'run'}\n")
    assert_one_line_error(cli("train", r), "train.tsv", "line 4", "'X-PER'", "IOB2")
    assert not (tmp_path / "run").exists()


def test_fewshot_one_example_per_class_names_the_split_that_took_it(tmp_path):
    """Two classes, one example each: the test split takes one; the file does not hold 'one class only'."""
    data = tmp_path / "two.csv"
    data.write_text("text,label\ngreat film,pos\nawful film,neg\n")
    r = tmp_path / "r.yaml"
    r.write_text(f"task: fewshot\ndata:\n  train: {data}\noutput:\n  dir: {tmp_path / 'run'}\n")
    res = cli("train", r)
    assert_one_line_error(res, "two.csv", "has 1 example", "test split", "took it")
    assert "one class only" not in res.stderr and not (tmp_path / "run").exists()
