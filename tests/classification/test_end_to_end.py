"""Whole classification runs on a tiny random BERT: every strategy, save, reload in a fresh process, predict."""

import json

import numpy as np
import pandas as pd
import pytest

from domaintune import api
from domaintune.classification.loading import load_classifier
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe
from tests.conftest import predict_in_fresh_process

PROBE_TEXTS = ["software developer", "nurse assistant", "welder", "chemical engineering technician", "x " * 200]


def tiny_recipe(tiny_bert, data, out, strategy, *extra):
    return load_recipe(None, [
        "task=classification", f"strategy={strategy}", f"model.name={tiny_bert}", "model.max_seq_length=32",
        f"data.train={data / 'train.csv'}", f"data.test={data / 'test.csv'}", "data.validation_fraction=0.2",
        "training.batch_size=16", "training.eval_steps=5", "training.epochs=2", "training.learning_rate=1e-3",
        "adapter.learning_rate=5e-3", f"frozen.cache_dir={out.parent / 'cache'}", f"output.dir={out}", *extra])


@pytest.fixture(scope="module")
def runs(tiny_bert, job_title_classes, tmp_path_factory):
    root = tmp_path_factory.mktemp("cls_runs")
    out = {}
    for strategy in ("frozen", "full", "lora"):
        recipe = tiny_recipe(tiny_bert, job_title_classes, root / strategy, strategy)
        out[strategy] = (root / strategy, api.train(recipe, show_progress=False))
    # transformers' own head ([CLS] through the pooler) instead of the default mean-pooled one
    for strategy in ("full", "lora"):
        recipe = tiny_recipe(tiny_bert, job_title_classes, root / f"{strategy}_pooler", strategy,
                             "model.pooling=pooler")
        out[f"{strategy}_pooler"] = (root / f"{strategy}_pooler", api.train(recipe, show_progress=False))
    return out


@pytest.mark.parametrize("strategy", ["frozen", "full", "lora"])
def test_metrics_shape_and_artifacts(runs, strategy):
    folder, metrics = runs[strategy]
    on_disk = json.loads((folder / "metrics.json").read_text())
    assert on_disk["task"] == "classification" and on_disk["labels"] == ["2", "3", "7"]
    for side in ("before", "after"):
        for split in ("validation", "test"):
            assert set(on_disk[side][split]) == {"accuracy", "macro_f1"}
            assert 0 <= on_disk[side][split]["accuracy"] <= 1
    assert on_disk["delta"]["test"]["accuracy"] == pytest.approx(
        on_disk["after"]["test"]["accuracy"] - on_disk["before"]["test"]["accuracy"], abs=1e-5)
    assert set(on_disk["per_class"]["after"]["test"]) == {"2", "3", "7"}
    matrix = np.array(on_disk["confusion_matrix"]["after"]["test"])
    assert matrix.shape == (3, 3) and matrix.sum() == on_disk["run"]["test_rows"] == 30
    for f in ["report.md", "report.html", "plots/confusion_test.png", "recipe.yaml", "model/README.md",
              "model/domaintune_classifier.json"]:
        assert (folder / f).exists(), f
    assert "data:image/png;base64," in (folder / "report.html").read_text()
    params = on_disk["run"]["parameters"]
    assert 0 < params["trainable"] <= params["total"]


def test_each_strategy_trains_what_it_says(runs):
    frozen, full, lora = (runs[s][1]["run"]["parameters"] for s in ("frozen", "full", "lora"))
    assert frozen["trainable"] < lora["trainable"] < full["trainable"] == full["total"]
    assert lora["trainable"] / lora["total"] < 0.5
    # the LoRA folder holds the adapter with the head inside, not a copy of the encoder
    lora_folder = runs["lora"][0] / "model"
    assert (lora_folder / "adapter_model.safetensors").exists() and not (lora_folder / "model.safetensors").exists()
    from safetensors import safe_open

    with safe_open(str(lora_folder / "adapter_model.safetensors"), "pt") as f:
        assert any("classifier" in k for k in f.keys())
        assert not any("classifier" in k and "lora_" in k for k in f.keys())  # the head is trained, not adapted
    # the full folder is a standard transformers encoder folder plus the head's linear layer
    from transformers import AutoModel, AutoModelForSequenceClassification

    encoder = AutoModel.from_pretrained(str(runs["full"][0] / "model"))
    assert encoder.config.hidden_size == 32 and (runs["full"][0] / "model" / "head.safetensors").exists()
    # with model.pooling: pooler, a standard transformers sequence classifier
    m = AutoModelForSequenceClassification.from_pretrained(str(runs["full_pooler"][0] / "model"))
    assert m.config.id2label == {0: "2", 1: "3", 2: "7"}
    with safe_open(str(runs["lora_pooler"][0] / "model" / "adapter_model.safetensors"), "pt") as f:
        assert any("pooler" in k for k in f.keys()) and any("classifier" in k for k in f.keys())


def test_pooled_head_reads_the_mean_of_the_token_states(runs):
    """The default head classifies the masked mean of the last hidden states: padding does not change it."""
    import torch

    clf = load_classifier(runs["full"][0] / "model")
    assert clf.pooling == "mean" and clf.model.pooling == "mean"
    ids, _ = clf.encode(["software developer", "a much longer job title with many words in it"])
    alone = clf.logits_from_ids(ids[:1])
    together = clf.logits_from_ids(ids)  # the first row padded to the second's length
    np.testing.assert_allclose(alone[0], together[0], atol=1e-5)
    with torch.no_grad():
        x = torch.tensor([ids[0]])
        hidden = clf.model.encoder(input_ids=x).last_hidden_state.mean(1)
        np.testing.assert_allclose(clf.model.classifier(hidden).numpy()[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("strategy", ["frozen", "full", "lora", "full_pooler", "lora_pooler"])
def test_reload_in_fresh_process_predicts_identically(runs, strategy):
    folder = runs[strategy][0] / "model"
    here = load_classifier(folder).predict_proba(PROBE_TEXTS)[0]
    there = np.array(predict_in_fresh_process(folder, PROBE_TEXTS))
    np.testing.assert_allclose(here, there, atol=1e-6)
    assert np.allclose(here.sum(1), 1, atol=1e-5)


def test_reloaded_matches_the_trained_evaluation(runs, job_title_classes):
    """The folder's predictions reproduce the after-training test accuracy exactly."""
    folder, metrics = runs["lora"]
    test = pd.read_csv(job_title_classes / "test.csv", dtype=str)
    probs, _ = load_classifier(folder / "model").predict_proba(test.text.tolist())
    labels = metrics["labels"]
    acc = float(np.mean([labels[k] == y for k, y in zip(probs.argmax(1), test.label, strict=True)]))
    assert acc == pytest.approx(metrics["after"]["test"]["accuracy"])


@pytest.mark.parametrize("run", ["lora", "lora_pooler"])
def test_merged_adapter_predicts_like_the_adapter(runs, tmp_path, run):
    folder = runs[run][0] / "model"
    merged = api.merge_adapter(folder, tmp_path / "merged")
    a = load_classifier(folder).predict_proba(PROBE_TEXTS)[0]
    b = load_classifier(merged).predict_proba(PROBE_TEXTS)[0]
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert (merged / "model.safetensors").exists()
    assert load_classifier(merged).strategy == "full"


def test_predict_marks_bad_rows_and_never_overwrites(runs, tmp_path):
    folder = runs["full"][0] / "model"
    src = tmp_path / "in.csv"
    src.write_bytes("text\nwelder\n\"\"\nna\xefve cook\n".encode("latin-1") + ("word " * 100).encode() + b"\n")
    out = tmp_path / "pred.csv"
    df = api.predict(folder, src, out)
    assert df.status.tolist() == ["ok", "empty", "undecodable", "truncated"]
    assert df.label.iloc[0] in {"2", "3", "7"} and df.label.iloc[1] == "" and df.label.iloc[3] != ""
    assert set(df.columns) >= {"prob_2", "prob_3", "prob_7"}
    assert pd.read_csv(out).shape[0] == 4
    from domaintune.errors import DomaintuneError

    with pytest.raises(DomaintuneError, match="never replace"):
        api.predict(folder, src, out)


def test_frozen_features_are_computed_once(runs, tiny_bert, job_title_classes, tmp_path):
    """A second frozen run on the same data reads every feature from the cache: no encoding time."""
    recipe = tiny_recipe(tiny_bert, job_title_classes, tmp_path / "again", "frozen",
                         f"frozen.cache_dir={runs['frozen'][0].parent / 'cache'}")
    metrics = api.train(recipe, show_progress=False)
    assert metrics["training"]["encoding_seconds"] == 0
    assert metrics["after"] == runs["frozen"][1]["after"]


def test_frozen_mlp_head_with_noisy_passes(tiny_bert, job_title_classes, tmp_path):
    recipe = tiny_recipe(tiny_bert, job_title_classes, tmp_path / "mlp", "frozen", "frozen.head=mlp",
                         "frozen.noisy_passes=2", "frozen.layers=2", "training.class_weights=true")
    metrics = api.train(recipe, show_progress=False)
    assert metrics["training"]["feature_rows"] == 3 * metrics["run"]["train_rows"]
    assert len(metrics["training"]["validation_score_by_epoch"]) == 5
    again = load_classifier(tmp_path / "mlp" / "model").predict_proba(PROBE_TEXTS)[0]
    np.testing.assert_allclose(again, predict_in_fresh_process(tmp_path / "mlp" / "model", PROBE_TEXTS), atol=1e-6)


def test_multi_label(tiny_bert, tmp_path):
    rng = np.random.default_rng(0)
    words = {"a": "apple", "b": "banana", "c": "cherry"}
    rows = []
    for _ in range(120):
        labs = sorted(set(rng.choice(list(words), size=rng.integers(1, 3))))
        rows.append({"text": " ".join(words[k] for k in labs), "label": "|".join(labs)})
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    recipe = load_recipe(None, ["task=classification", "strategy=full", f"model.name={tiny_bert}",
                                "model.max_seq_length=16", f"data.train={tmp_path / 'train.csv'}",
                                "data.multi_label=true", "training.epochs=3", "training.learning_rate=3e-3",
                                "training.eval_steps=10", "training.batch_size=16", f"output.dir={tmp_path / 'run'}",
                                f"frozen.cache_dir={tmp_path / 'cache'}"])
    metrics = api.train(recipe, show_progress=False)
    assert metrics["labels"] == ["a", "b", "c"] and metrics["run"]["multi_label"]
    assert metrics["confusion_matrix"]["after"]["validation"] is None
    clf = load_classifier(tmp_path / "run" / "model")
    probs, _ = clf.predict_proba(["apple cherry"])
    assert probs.shape == (1, 3) and not np.allclose(probs.sum(), 1)  # sigmoid per label, not softmax


def test_compare_reuses_finished_strategies(tiny_bert, job_title_classes, tmp_path):
    recipe = tiny_recipe(tiny_bert, job_title_classes, tmp_path / "cmp", "frozen", "training.max_steps=6")
    first = api.compare(recipe, ["frozen", "ia3"], show_progress=False)
    assert set(first["rows"]) == {"frozen", "ia3"}
    row = first["rows"]["ia3"]
    assert row["trainable params"] > 0 and row["size on disk MB"] > 0 and row["test accuracy"] is not None
    for f in ["compare.md", "compare.html", "plots/compare.png", "frozen/metrics.json", "ia3/metrics.json"]:
        assert (tmp_path / "cmp" / f).exists(), f
    stamp = (tmp_path / "cmp" / "ia3" / "metrics.json").stat().st_mtime_ns
    second = api.compare(recipe, ["frozen", "ia3"], show_progress=False)
    assert (tmp_path / "cmp" / "ia3" / "metrics.json").stat().st_mtime_ns == stamp
    assert second["rows"] == first["rows"]
    # a changed adapter setting leaves the frozen run's hash alone; the finished ia3 run is not silently replaced
    changed = recipe.model_copy(deep=True)
    changed.adapter.learning_rate = 1e-3
    frozen_stamp = (tmp_path / "cmp" / "frozen" / "metrics.json").stat().st_mtime_ns
    with pytest.raises(DomaintuneError, match="ia3.*different recipe.*--overwrite"):
        api.compare(changed, ["frozen", "ia3"], show_progress=False)
    third = api.compare(changed, ["frozen", "ia3"], show_progress=False, overwrite=True)
    assert (tmp_path / "cmp" / "frozen" / "metrics.json").stat().st_mtime_ns == frozen_stamp
    assert (tmp_path / "cmp" / "ia3" / "metrics.json").stat().st_mtime_ns != stamp
    assert third["rows"]["frozen"] == first["rows"]["frozen"]


@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_resume_after_kill_matches_uninterrupted(runs, tiny_bert, job_title_classes, tmp_path, strategy):
    from domaintune.core.recipe import recipe_to_yaml
    from tests.conftest import kill_then_resume

    ref = runs[strategy][1]
    out = tmp_path / "killed"
    recipe_file = tmp_path / "cls.yaml"
    recipe_file.write_text(recipe_to_yaml(tiny_recipe(tiny_bert, job_title_classes, out, strategy,
                                                      f"frozen.cache_dir={runs[strategy][0].parent / 'cache'}")))
    # killed after the first complete checkpoint of 16 steps: after the second, the rest of this tiny run could
    # finish between two polls of the watcher on a fast machine
    resumed = kill_then_resume(recipe_file, out, checkpoints=1)
    assert resumed["after"]["test"]["accuracy"] == pytest.approx(ref["after"]["test"]["accuracy"], abs=0.04)
    assert resumed["training"]["global_step"] == ref["training"]["global_step"]


def test_dora_adapter_is_lora_with_a_magnitude_per_output(tiny_bert, job_title_classes, tmp_path):
    from domaintune.classification.sequence import build_model

    recipe = tiny_recipe(tiny_bert, job_title_classes, tmp_path / "dora", "lora", "adapter.dora=true")
    model, _, base = build_model(recipe, ["2", "3", "7"])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_magnitude_vector" in n for n in names) and any("lora_A" in n for n in names)
    assert base["fingerprint"]
    with pytest.raises(DomaintuneError, match="adapter.dora"):
        tiny_recipe(tiny_bert, job_title_classes, tmp_path / "x", "ia3", "adapter.dora=true")


def test_compare_reads_a_run_saved_before_the_pooled_head_as_pooler(tmp_path):
    """A full/adapter folder whose saved model does not name the pooled head was trained with transformers'
    pooler head: compare must not take it for a run of the same recipe under today's default (mean)."""
    from domaintune.classification.compare import saved_hash
    from domaintune.core.recipe import recipe_to_yaml

    recipe = load_recipe(None, ["task=classification", "strategy=full"])
    run = tmp_path / "full"
    (run / "model").mkdir(parents=True)
    (run / "recipe.yaml").write_text(recipe_to_yaml(recipe))
    (run / "model" / "domaintune_classifier.json").write_text(json.dumps({"pooling": "mean", "head": {}}))
    pooler = load_recipe(None, ["task=classification", "strategy=full", "model.pooling=pooler"])
    assert saved_hash(run) == pooler.hash() != recipe.hash()
    (run / "model" / "domaintune_classifier.json").write_text(
        json.dumps({"pooling": "mean", "head": {"sequence_head": "pooled"}}))
    assert saved_hash(run) == recipe.hash()


def test_an_interrupted_run_from_before_the_pooled_head_reads_as_pooler(tmp_path):
    """No saved model yet: the checkpoint's weight names tell the head apart, for compare and --resume."""
    import torch
    from safetensors.torch import save_file

    from domaintune.classification.compare import saved_hash
    from domaintune.core.recipe import recipe_to_yaml
    from domaintune.core.rundir import prepare_run_dir

    recipe = load_recipe(None, ["task=classification", "strategy=full", f"output.dir={tmp_path / 'full'}"])
    run = tmp_path / "full"
    (run / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (run / "recipe.yaml").write_text(recipe_to_yaml(recipe))
    weights = run / "checkpoints" / "checkpoint-5" / "model.safetensors"
    save_file({"bert.pooler.dense.weight": torch.zeros(2, 2), "classifier.weight": torch.zeros(2, 2)}, str(weights))
    assert saved_hash(run) != recipe.hash()
    with pytest.raises(DomaintuneError, match="differs"):
        prepare_run_dir(recipe, resume=True, overwrite=False)
    save_file({"encoder.embeddings.word_embeddings.weight": torch.zeros(2, 2), "classifier.weight": torch.zeros(2, 2)},
              str(weights))
    assert saved_hash(run) == recipe.hash()
    assert prepare_run_dir(recipe, resume=True, overwrite=False) == run



def test_task_contract_load_predicts_labels_with_scores(runs):
    from domaintune import registry

    for strategy in ("frozen", "lora"):
        model = registry.load_model(runs[strategy][0] / "model")
        out = model.predict(["welder", "software developer"])
        assert model.metadata["strategy"] == strategy and model.metadata["labels"] == ["2", "3", "7"]
        for row in out:
            assert row["labels"][0] in ("2", "3", "7") and sum(row["scores"].values()) == pytest.approx(1, abs=1e-4)
            assert row["scores"][row["labels"][0]] == max(row["scores"].values())
