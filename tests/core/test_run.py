"""core/run.py: the run template every task follows (folder, cached "before", atomic model + card, metrics
envelope, report), on a recipe with no model behind it."""

from __future__ import annotations

import json

import pytest

from domaintune.core.run import Run
from domaintune.registry import load_recipe


def recipe(out):
    return load_recipe(None, [f"output.dir={out}", "training.seed=7"])


def test_a_run_writes_its_folder_only_after_start_and_caches_before(tmp_path):
    out = tmp_path / "run"
    run = Run(recipe(out))
    assert not out.exists()  # read and validate data first: a bad file leaves nothing behind
    run.start()
    assert (out / "recipe.yaml").exists()
    calls = []
    first = run.before(lambda: calls.append(1) or {"metrics": {"x": {"m": 1.0}}})
    again = Run(recipe(out), resume=True).before(lambda: calls.append(2) or {"metrics": {}})
    assert calls == [1] and again == first and "seconds" in first  # computed once, read back on resume


def test_finish_saves_model_card_metrics_and_report_and_times_steps(tmp_path):
    out = tmp_path / "run"
    run = Run(recipe(out))
    run.start()
    with run.timed("train"):
        pass
    reported = []

    def write_model(folder):
        (folder / "weights.bin").write_bytes(b"0" * 10)

    metrics = run.finish({"task": "similarity", "before": {}, "after": {}}, write_model, lambda m: "# card\n",
                         lambda d, m, h: reported.append((d, h)) or {}, log_history=[{"loss": 1.0}])
    assert (out / "model" / "weights.bin").exists() and (out / "model" / "README.md").read_text() == "# card\n"
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics and set(on_disk["timings"]) >= {"train", "save", "total"}
    assert on_disk["recipe_hash"] == recipe(out).hash() and on_disk["versions"]["torch"]
    assert on_disk["run"]["size_on_disk_bytes"] >= 10
    assert reported == [(out, [{"loss": 1.0}])] and json.loads((out / "log_history.json").read_text())


def test_a_failed_model_write_leaves_no_model_folder(tmp_path):
    out = tmp_path / "run"
    run = Run(recipe(out))
    run.start()

    def broken(folder):
        (folder / "half").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        run.finish({"task": "similarity"}, broken, None, lambda *a: {})
    assert not (out / "model").exists() and not (out / "metrics.json").exists()


def test_seed_comes_from_the_recipe(tmp_path):
    import random

    Run(recipe(tmp_path / "a"))
    a = random.random()
    Run(recipe(tmp_path / "b"))
    assert random.random() == a
