"""Few-shot runs on a tiny random BERT: sampling, three phases, seeds, probe baseline, save and reload."""

import json

import numpy as np
import pandas as pd
import pytest

from domaintune import api
from domaintune.classification.loading import load_classifier
from domaintune.registry import load_recipe
from tests.conftest import predict_in_fresh_process


def recipe(tiny_bert, data, out, *extra):
    return load_recipe(None, [
        "task=fewshot", f"model.name={tiny_bert}", "model.max_seq_length=32", f"data.train={data / 'train.csv'}",
        f"data.test={data / 'test.csv'}", "data.n_per_class=8", "training.seeds=[0, 1]",
        "training.body_learning_rate=1e-3", f"output.dir={out}", *extra])


@pytest.fixture(scope="module")
def fewshot_run(tiny_bert, job_title_classes, tmp_path_factory):
    out = tmp_path_factory.mktemp("fs") / "run"
    return out, api.train(recipe(tiny_bert, job_title_classes, out), show_progress=False)


def test_metrics_seeds_and_baseline(fewshot_run):
    out, metrics = fewshot_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["task"] == "fewshot" and len(on_disk["seeds"]) == 2
    for s in on_disk["seeds"]:
        assert s["examples"] == 24  # 8 per class x 3 classes
        assert s["body"]["pairs"] == 2 * max(3 * 28, 24 * 23 // 2 - 3 * 28)  # oversampling: 2 * max(P, N)
        assert s["body"]["last_loss"] < s["body"]["first_loss"]
        assert set(s["before"]) == set(s["after"]) == {"accuracy", "macro_f1"}
    mean = np.mean([s["after"]["accuracy"] for s in on_disk["seeds"]])
    assert on_disk["after"]["test"]["accuracy"] == pytest.approx(mean)
    assert "±" in on_disk["run"]["test_accuracy_after"] and "±" in on_disk["run"]["test_accuracy_before"]
    for f in ["report.md", "report.html", "plots/confusion_test.png", "model/body/modules.json",
              "model/head.safetensors", "seeds/0.json", "seeds/1.json"]:
        assert (out / f).exists(), f


def test_saved_model_reloads_identically_in_a_fresh_process(fewshot_run, job_title_classes):
    out, metrics = fewshot_run
    test = pd.read_csv(job_title_classes / "test.csv", dtype=str)
    texts = test.text.tolist()
    here = load_classifier(out / "model").predict_proba(texts)[0]
    np.testing.assert_allclose(here, predict_in_fresh_process(out / "model", texts), atol=1e-6)
    acc = float(np.mean([metrics["labels"][k] == y for k, y in zip(here.argmax(1), test.label, strict=True)]))
    assert acc == pytest.approx(metrics["seeds"][0]["after"]["accuracy"])
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(out / "model" / "body")).encode(["welder"]).shape == (1, 32)


def test_resume_reuses_finished_seeds(fewshot_run, tiny_bert, job_title_classes):
    out, metrics = fewshot_run
    again = api.train(recipe(tiny_bert, job_title_classes, out), resume=True, show_progress=False)
    assert again["seeds"] == metrics["seeds"]


def test_mlp_head_end_to_end_and_capped_pairs(tiny_bert, job_title_classes, tmp_path):
    m = api.train(recipe(tiny_bert, job_title_classes, tmp_path / "r", "training.seeds=[3]", "training.head=mlp",
                         "training.end_to_end=true", "pairs.max_pairs=40", "pairs.sampling=unique"),
                  show_progress=False)
    s = m["seeds"][0]
    assert s["body"]["pairs"] == 40 and s["end_to_end"]["seconds"] > 0
    np.testing.assert_allclose(load_classifier(tmp_path / "r" / "model").predict_proba(["welder"])[0],
                               predict_in_fresh_process(tmp_path / "r" / "model", ["welder"]), atol=1e-6)


def test_multi_label_few_shot(tiny_bert, tmp_path):
    rows = [{"text": t, "label": lab} for t, lab in [("apple", "a"), ("banana", "b"), ("apple banana", "a|b")] * 10]
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    m = api.train(load_recipe(None, ["task=fewshot", f"model.name={tiny_bert}", f"data.train={tmp_path / 'train.csv'}",
                                     "data.multi_label=true", "data.n_per_class=4", f"output.dir={tmp_path / 'r'}"]),
                  show_progress=False)
    assert m["labels"] == ["a", "b"] and m["run"]["multi_label"]
    assert m["confusion_matrix"]["after"]["test"] is None and 0 <= m["after"]["test"]["accuracy"] <= 1


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_resume_in_the_middle_of_a_seed_matches_uninterrupted(tiny_bert, job_title_classes, tmp_path):
    """Phase 1 runs on the shared trainer path: killed with -9 after a checkpoint of the first seed, the
    resumed run continues that seed from its checkpoint and ends where an uninterrupted run ends."""
    from domaintune.core.recipe import recipe_to_yaml
    from tests.conftest import kill_then_resume

    extra = ["data.n_per_class=16", "training.seeds=[0]", "training.body_epochs=2",
             "training.body_checkpoint_steps=5"]
    ref = api.train(recipe(tiny_bert, job_title_classes, tmp_path / "ref", *extra), show_progress=False)
    out = tmp_path / "killed"
    recipe_file = tmp_path / "fs.yaml"
    recipe_file.write_text(recipe_to_yaml(recipe(tiny_bert, job_title_classes, out, *extra)))
    resumed = kill_then_resume(recipe_file, out, checkpoints=1, where="seeds/0/checkpoints",
                               resumed_from=lambda m: m["seeds"][0]["body"]["resumed_from"])
    body, ref_body = resumed["seeds"][0]["body"], ref["seeds"][0]["body"]
    assert body["steps"] == ref_body["steps"] and body["pairs"] == ref_body["pairs"]
    assert resumed["after"]["test"]["accuracy"] == pytest.approx(ref["after"]["test"]["accuracy"], abs=0.05)
