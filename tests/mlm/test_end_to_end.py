"""Continued MLM pretraining on a tiny random BERT: documents, blocks, fixed-mask perplexity, head-only
baseline, a standard AutoModelForMaskedLM folder."""

import json

import pytest

from domaintune import api
from domaintune.registry import load_recipe


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import pandas as pd

    from domaintune.core.resources import resource_path

    esco = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    folder = tmp_path_factory.mktemp("corpus")
    docs = [f"{r.preferred_label} is also called {r.alt_labels.replace(chr(10), ', ')}."
            for r in esco[:400].itertuples()]
    (folder / "domain.txt").write_text("\n\n".join(docs[:200]) + "\n")  # blank-line separated documents
    (folder / "more").mkdir()
    (folder / "more" / "a.txt").write_text("\n".join(docs[200:]))
    return folder


def mlm_recipe(tiny_bert, train, out, *extra):
    return load_recipe(None, ["task=mlm", f"model.name={tiny_bert}", "model.max_seq_length=32", f"data.train={train}",
                              "data.document_split=blank_line", "training.max_steps=30", "training.eval_steps=10",
                              "training.learning_rate=1e-3", "evaluation.max_eval_blocks=60", f"output.dir={out}",
                              *extra])


@pytest.fixture(scope="module")
def runs(tiny_bert, corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm")
    full = api.train(mlm_recipe(tiny_bert, corpus / "domain.txt", root / "full"), show_progress=False)
    head = api.train(mlm_recipe(tiny_bert, corpus / "domain.txt", root / "head", "mlm.train_head_only=true"),
                     show_progress=False)
    return root, full, head


def test_perplexity_before_after_and_the_fresh_head_note(runs, tiny_bert):
    from tests.conftest import largest_weight_change

    root, full, _ = runs
    on_disk = json.loads((root / "full" / "metrics.json").read_text())
    for side in ("before", "after"):
        assert set(on_disk[side]) == {"domain_validation", "general_stsb"}
        assert on_disk[side]["domain_validation"]["perplexity"] > 1
    assert largest_weight_change(tiny_bert, root / "full" / "model") > 1e-3  # trained (not: which way it moved)
    assert on_disk["run"]["fresh_mlm_head"] is True and "fresh" in on_disk["note"]
    # identical fixed masks: the same number of scored tokens before and after
    scored = [on_disk[side]["domain_validation"]["masked_tokens"] for side in ("before", "after")]
    assert scored[0] == scored[1] > 0
    for f in ["report.md", "report.html", "model/config.json", "model/README.md", "plots/learning_curves.png"]:
        assert (root / "full" / f).exists(), f


def test_head_only_trains_only_the_head(runs):
    _, full, head = runs
    assert head["run"]["parameters"]["trainable"] < 0.1 * full["run"]["parameters"]["trainable"]
    assert head["before"] == full["before"]  # same fixed masks, same starting point


def test_saved_folder_is_a_standard_mlm_model_and_a_base_for_other_tasks(runs, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    folder = runs[0] / "full" / "model"
    model = AutoModelForMaskedLM.from_pretrained(str(folder))
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert model(**tok(["a [MASK] engineer"], return_tensors="pt")).logits.shape[-1] == tok.vocab_size
    from domaintune.models import load_sentence_model

    emb = load_sentence_model(str(folder)).encode(["welder"])  # plain encoder + mean pooling
    assert emb.shape == (1, 32)


def test_folder_of_txt_files_line_by_line_and_whole_word_masking(tiny_bert, corpus, tmp_path):
    m = api.train(mlm_recipe(tiny_bert, corpus / "more", tmp_path / "r", "data.document_split=line",
                             "mlm.packing=line_by_line", "mlm.whole_word_masking=true", "evaluation.general_text=false",
                             "training.max_steps=5"), show_progress=False)
    assert m["run"]["train_documents"] == 180 and m["run"]["train_blocks"] == 180
    assert set(m["after"]) == {"domain_validation"}






@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_resume_after_kill_matches_uninterrupted(runs, tiny_bert, corpus, tmp_path):
    from domaintune.core.recipe import recipe_to_yaml
    from tests.conftest import kill_then_resume

    _, full, _ = runs
    out = tmp_path / "killed"
    recipe_file = tmp_path / "mlm.yaml"
    recipe_file.write_text(recipe_to_yaml(mlm_recipe(tiny_bert, corpus / "domain.txt", out)))
    resumed = kill_then_resume(recipe_file, out, checkpoints=1)
    assert resumed["training"]["global_step"] == full["training"]["global_step"]
    assert resumed["before"] == full["before"]  # the cached "before" is reused, not recomputed
    for ev in ("domain_validation", "general_stsb"):
        assert resumed["after"][ev]["perplexity"] == pytest.approx(full["after"][ev]["perplexity"], rel=0.02)
