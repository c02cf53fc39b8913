"""TSDAE and SimCSE on raw text with the tiny random BERT: the decoder tied, the noise, before/after on STSb and
held-out taxonomy retrieval, a plain sentence-transformers folder, resume after kill -9, and the bad corpora."""

from __future__ import annotations

import json

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe


@pytest.fixture(scope="module")
def titles(tiny_taxonomy, tmp_path_factory):
    """Every label of the tiny taxonomy's concepts, one per line: raw domain text, no concept ids."""
    import pandas as pd

    df = pd.read_csv(tiny_taxonomy, dtype=str, keep_default_na=False)
    lines = [t for r in df.itertuples() for t in [r.preferred_label, *r.alt_labels.split("\n")] if t]
    path = tmp_path_factory.mktemp("corpus") / "titles.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(task, tiny_bert, corpus, out, tiny_taxonomy=None, *extra):
    taxonomy = [f"data.taxonomy.path={tiny_taxonomy}", "evaluation.retrieval_max_queries=100"] if tiny_taxonomy else []
    return load_recipe(None, [
        f"task={task}", f"model.name={tiny_bert}", "model.max_seq_length=24", f"data.train={corpus}", *taxonomy,
        "training.batch_size=16", "training.max_steps=12", "training.eval_steps=4", "training.learning_rate=1e-3",
        "evaluation.stsb=false", "evaluation.stsb_languages=[en]", f"output.dir={out}", *extra])


@pytest.mark.parametrize("task", ["tsdae", "simcse"])
def test_runs_end_to_end_with_before_after_and_a_plain_encoder_folder(task, tiny_bert, titles, tiny_taxonomy,
                                                                      tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / task
    m = api.train(recipe(task, tiny_bert, titles, out, tiny_taxonomy), show_progress=False)
    assert m["task"] == task and m["run"]["train_texts"] > 200
    for side in ("before", "after"):
        assert set(m[side]) == {"stsb_test_en", "retrieval"}
        assert 0 <= m[side]["retrieval"]["mrr@10"] <= 1
    assert m["training"]["global_step"] == 12 and m["training"]["validation_metric_key"].endswith("mrr@10")
    assert m["after"] != m["before"]  # the encoder moved
    assert (out / "report.md").exists() and "retrieval" in (out / "report.md").read_text()
    encoder = SentenceTransformer(str(out / "model"), device="cpu")  # no domaintune needed to use it
    assert encoder.encode(["nurse"]).shape == (1, 32)
    assert not list((out / "model").glob("*decoder*"))  # TSDAE's decoder is scaffolding, not saved with the model
    from domaintune import registry

    assert registry.load_model(out / "model").predict(["nurse"]).shape == (1, 32)






@pytest.mark.parametrize("task", ["tsdae", pytest.param("simcse", marks=pytest.mark.slow)])  # ~25 s each
def test_resumes_after_kill_to_the_same_weights(task, tiny_bert, titles, tmp_path):
    """kill -9 after the first checkpoint, then --resume: the weights of the uninterrupted run (TSDAE: with the
    decoder's own weights restored from the checkpoint; SimCSE: with the dropout noise's random state)."""
    from safetensors.numpy import load_file

    from domaintune.core.recipe import recipe_to_yaml
    from tests.conftest import kill_then_resume

    extra = ("training.max_steps=40", "training.eval_steps=10", "model.max_seq_length=24")
    reference = tmp_path / "reference"
    api.train(recipe(task, tiny_bert, titles, reference, None, *extra), show_progress=False)
    out = tmp_path / "killed"
    path = tmp_path / f"{task}.yaml"
    path.write_text(recipe_to_yaml(recipe(task, tiny_bert, titles, out, None, *extra)))
    resumed = kill_then_resume(path, out, checkpoints=1)
    assert resumed["training"]["global_step"] == 40 and resumed["training"]["resumed_from"]
    if task == "tsdae":
        assert list(out.glob("checkpoints/checkpoint-*/tsdae_decoder.safetensors"))
    a = load_file(str(reference / "model" / "model.safetensors"))
    b = load_file(str(out / "model" / "model.safetensors"))
    assert max(float(abs(a[k] - b[k]).max()) for k in a) < 1e-4


@pytest.mark.parametrize("content, message", [
    ("", "no text found"),
    ("only one line\n", "1 distinct text; tsdae needs at least 2"),
    ("same\nsame\n\n", "1 distinct text; tsdae needs at least 2"),
])
def test_bad_corpora_get_one_line_errors(tiny_bert, tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(content)
    with pytest.raises(DomaintuneError, match=message):
        api.train(recipe("tsdae", tiny_bert, corpus, tmp_path / "run"), show_progress=False)
    assert not (tmp_path / "run").exists()


def test_init_writes_complete_recipes(tmp_path):
    from typer.testing import CliRunner

    from domaintune.cli import app

    for task in ("tsdae", "simcse"):
        path = tmp_path / f"{task}.yaml"
        res = CliRunner().invoke(app, ["init", task, "-o", str(path)])
        assert res.exit_code == 0, res.output
        text = path.read_text()
        assert f"task: {task}" in text and "deletion_ratio" in text if task == "tsdae" else "scale" in text
        r = load_recipe(path)
        assert r.task == task and json.loads(r.model_dump_json())["data"]["train"] is None


def test_tsdae_as_the_first_stage_of_a_pipeline(tiny_bert, titles, tiny_taxonomy, job_title_classes, tmp_path):
    """tsdae -> similarity and tsdae -> classification, each against the last stage alone on the base model."""
    from domaintune import api

    tsdae = {"task": "tsdae", "data": {"train": str(titles)}, "model": {"max_seq_length": 24},
             "training": {"max_steps": 6, "eval_steps": 6, "batch_size": 16}, "evaluation": {"stsb": False}}
    then = {"similarity": {"task": "similarity", "data": {"taxonomy": {"path": str(tiny_taxonomy)}},
                           "model": {"max_seq_length": 24}, "training": {"max_steps": 6, "eval_steps": 6},
                           "evaluation": {"stsb": False, "retrieval_max_queries": 50}},
            "classification": {"task": "classification", "strategy": "full",
                               "data": {"train": str(job_title_classes / "train.csv"),
                                        "test": str(job_title_classes / "test.csv")},
                               "training": {"max_steps": 6, "eval_steps": 6},
                               "frozen": {"cache_dir": str(tmp_path / "cache")}}}
    for name, stage in then.items():
        m = api.train(load_recipe(None, ["task=pipeline", f"model.name={tiny_bert}",
                                         f"output.dir={tmp_path / name}", f"stages={json.dumps([tsdae, stage])}"]),
                      show_progress=False)
        assert [s["stage"] for s in m["stages"]] == ["1-tsdae", f"2-{name}"]
        assert m["stages"][1]["base_model"] == str(tmp_path / name / "1-tsdae" / "model")
        assert m["pipeline_vs_alone"]["delta"] and (tmp_path / name / f"alone-{name}" / "model").exists()
