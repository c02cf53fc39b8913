"""Similarity under two CPU processes (torchrun, gloo): the same weights as one process with the same global
batch (dropout off), so gradients are averaged and data is sharded, not duplicated; one set of outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from domaintune.core.recipe import recipe_to_yaml
from domaintune.core.resources import load_stsb
from domaintune.registry import load_recipe
from tests.conftest import free_port


@pytest.fixture(scope="module")
def setting(tiny_bert, tmp_path_factory):
    """A copy of the tiny BERT with dropout off, and 128 training pairs (8 global batches of 16)."""
    import shutil

    root = tmp_path_factory.mktemp("ddp")
    model = root / "bert_no_dropout"
    shutil.copytree(tiny_bert, model)
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(config))
    df = load_stsb("dev").rename(columns={"text_a": "text_a", "text_b": "text_b"})[["text_a", "text_b", "score"]]
    df.iloc[:128].to_csv(root / "train.csv", index=False)
    df.iloc[128:160].to_csv(root / "validation.csv", index=False)
    return root, model


def recipe_file(root, model, out, batch_size: int, *extra: str):
    recipe = load_recipe(None, [
        f"model.name={model}", "model.max_seq_length=32", f"data.train={root / 'train.csv'}",
        f"data.validation={root / 'validation.csv'}", "training.loss=cosine_mse", f"training.batch_size={batch_size}",
        "training.max_steps=6", "training.eval_steps=6", "training.learning_rate=1e-3", "evaluation.stsb=false",
        f"output.dir={out}", *extra])
    path = root / f"{out.name}.yaml"
    path.write_text(recipe_to_yaml(recipe))
    return path


def launch(recipe: object, processes: int, *flags: str):
    """`domaintune train` in one process, or under torchrun with each rank's stderr also in a log file of its
    own; returns (the completed process, {rank: stderr text})."""
    import tempfile

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="ranks-") as logs:
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                     "--master_port", str(free_port()), "--log-dir", logs, "--tee", "2", "-m"]
                    if processes > 1 else [sys.executable, "-m"])
        res = subprocess.run([*launcher, "domaintune", "train", str(recipe), *flags], capture_output=True,
                             text=True, timeout=600, env=env)
        ranks = {int(p.parent.name): p.read_text(errors="replace") for p in Path(logs).rglob("stderr.log")}
    return res, ranks


def train(recipe: object, processes: int, *flags: str):
    """A run that must succeed; a failure shows every rank's last lines (the rank that failed first is not
    always the last one to print)."""
    res, ranks = launch(recipe, processes, *flags)
    if res.returncode != 0:
        raise AssertionError("".join(f"\n--- rank {r}, last lines of stderr:\n" + "\n".join(
            text.splitlines()[-25:]) for r, text in sorted(ranks.items())) or res.stderr[-4000:])
    return res


def test_the_run_folder_decision_is_rank_0s_and_its_refusal_reaches_every_rank(setting):
    """Rank 0 alone looks at the folder (each rank looking on its own let a rank find the recipe rank 0 had just
    saved and refuse the run); a refusal is raised on every rank, so none waits at a barrier for the others."""
    root, model = setting
    out = root / "occupied"
    out.mkdir()
    (out / "recipe.yaml").write_text("task: similarity\n")
    res, ranks = launch(recipe_file(root, model, out, 8), 2)
    assert res.returncode != 0 and sorted(ranks) == [0, 1]
    for r, text in ranks.items():
        assert "already holds a run" in text and "Traceback" not in text, (r, text[-2000:])


def test_two_processes_match_one_with_the_same_global_batch(setting):
    root, model = setting
    one, two = root / "one", root / "two"
    train(recipe_file(root, model, one, 16), 1)
    res = train(recipe_file(root, model, two, 8), 2)
    a = load_file(str(one / "model" / "model.safetensors"))
    b = load_file(str(two / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float(abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-4, f"largest weight difference {worst}"
    base = load_file(str(model / "model.safetensors"))
    assert base.keys() == a.keys()
    assert max(float(abs(a[k] - base[k]).max()) for k in a) > 1e-3  # and training did move them

    m = json.loads((two / "metrics.json").read_text())["training"]
    assert (m["world_size"], m["per_device_batch_size"], m["global_batch_size"], m["global_step"]) == (2, 8, 16, 6)
    assert len(list((two / "tensorboard").glob("events.*"))) == 1  # written once, by rank 0
    assert res.stdout.count("before / after") == 1  # one report on the terminal


def test_in_batch_negatives_gathered_across_two_processes_match_one(setting):
    """in_batch_negatives with gather_across_devices (every process's pairs are negatives for every anchor) and
    GradCache mini-batches on two processes: the weights of one process with the global batch, plain loss."""
    root, model = setting
    common = ("training.loss=in_batch_negatives", "training.positive_min_score=0", "training.hard_negatives=false")
    one, two = root / "ibn-one", root / "ibn-two"
    train(recipe_file(root, model, one, 16, *common), 1)
    train(recipe_file(root, model, two, 8, *common, "training.cached_mini_batch_size=3"), 2)
    a = load_file(str(one / "model" / "model.safetensors"))
    b = load_file(str(two / "model" / "model.safetensors"))
    worst = max(float(abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-4, f"largest weight difference {worst}"
    base = load_file(str(model / "model.safetensors"))
    assert max(float(abs(a[k] - base[k]).max()) for k in a) > 1e-3


@pytest.mark.slow  # ~30-40 s each
@pytest.mark.parametrize("task", ["similarity", "classification", "ner"])
def test_a_two_process_run_killed_hard_resumes_to_the_same_weights(setting, job_title_classes, ner_data, task):
    import signal
    import time

    root, model = setting
    make = {"similarity": lambda out, *extra: recipe_file(root, model, out, 8, *extra),
            "classification": lambda out, *extra: written(classification_recipe(root, model, job_title_classes, out,
                                                                                  8, *extra), out),
            "ner": lambda out, *extra: written(ner_recipe(root, model, ner_data, out, 8, *extra), out)}[task]
    reference, killed = root / f"{task}-reference", root / f"{task}-killed"
    recipe = lambda out: make(out, "training.max_steps=40", "training.eval_steps=10")  # noqa: E731
    train(recipe(reference), 2)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(free_port()), "-m", "domaintune", "train", str(recipe(killed))],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list(killed.glob("checkpoints/checkpoint-*/domaintune_checkpoint_complete.json")):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers at once
    proc.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"
    train(recipe(killed), 2, "--resume")
    m = json.loads((killed / "metrics.json").read_text())["training"]
    assert m["resumed_from"] and m["global_step"] == 40
    names = sorted(p.name for p in (reference / "model").glob("*.safetensors"))
    assert names == sorted(p.name for p in (killed / "model").glob("*.safetensors")) and names
    for name in names:
        a, b = load_file(str(reference / "model" / name)), load_file(str(killed / "model" / name))
        assert max(float(abs(a[k] - b[k]).max()) for k in a) < 1e-4, name


def written(recipe, out):
    path = out.parent / f"{out.name}.yaml"
    path.write_text(recipe_to_yaml(recipe))
    return path


def classification_recipe(root, model, data, out, batch_size: int, *extra: str):
    from tests.classification.test_end_to_end import tiny_recipe

    return tiny_recipe(model, data, out, "full", f"training.batch_size={batch_size}", "training.max_steps=6",
                       "training.eval_steps=6", "training.group_by_length=false", *extra)


def ner_recipe(root, model, data, out, batch_size: int, *extra: str):
    return load_recipe(None, [
        "task=ner", "strategy=full", f"model.name={model}", "model.max_seq_length=24",
        f"data.train={data / 'train.tsv'}", f"data.test={data / 'test.tsv'}", f"training.batch_size={batch_size}",
        "training.max_steps=6", "training.eval_steps=6", "training.learning_rate=3e-3",
        "training.group_by_length=false", f"output.dir={out}", *extra])


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory):
    from tests.ner.test_end_to_end import write_ner_files

    return write_ner_files(tmp_path_factory.mktemp("ddp_ner"), 120, 30)


@pytest.mark.slow  # ~20-25 s: two-process runs over ~20 s go to the slow suite (the fast one stays < 15 min)
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_classification_and_ner_under_two_processes_match_one(setting, job_title_classes, ner_data, task):
    root, model = setting
    make, data = {"classification": (classification_recipe, job_title_classes), "ner": (ner_recipe, ner_data)}[task]
    runs = {}
    for processes, batch in ((1, 16), (2, 8)):
        out = root / f"{task}-{processes}"
        path = root / f"{task}-{processes}.yaml"
        path.write_text(recipe_to_yaml(make(root, model, data, out, batch)))
        res = train(path, processes)
        runs[processes] = out
    files = sorted(p.name for p in runs[1].joinpath("model").glob("*.safetensors"))
    assert files and files == sorted(p.name for p in runs[2].joinpath("model").glob("*.safetensors"))
    for name in files:
        a, b = load_file(str(runs[1] / "model" / name)), load_file(str(runs[2] / "model" / name))
        worst = max(float(abs(a[k] - b[k]).max()) for k in a)
        assert worst < 1e-4, f"{name}: largest weight difference {worst}"
    m = json.loads((runs[2] / "metrics.json").read_text())
    assert (m["training"]["world_size"], m["training"]["global_batch_size"], m["training"]["global_step"]) == (2, 16, 6)
    assert "test" in m["after"] and (runs[2] / "report.html").exists()
    assert len(list((runs[2] / "tensorboard").glob("events.*"))) == 1  # written once, by rank 0
    assert res.stdout.count("before / after") <= 1 and "Traceback" not in res.stderr


@pytest.mark.slow  # ~20-25 s: two-process runs over ~20 s go to the slow suite (the fast one stays < 15 min)
def test_frozen_classification_shards_its_feature_pass_across_two_processes(setting, job_title_classes):
    """strategy frozen: each process encodes its share of the rows and the features are gathered: the same features
    as one process's, up to the last bits (a rank's batches pad to other lengths, so the matrix products differ in
    rounding: measured 1.2e-7). The linear probe fitted on them may then flip a near-tie row of the tiny random
    model, so the metrics are held to one row."""
    import numpy as np

    from tests.classification.test_end_to_end import tiny_recipe

    root, model = setting
    metrics = {}
    for processes in (1, 2):
        out = root / f"frozen-{processes}"
        path = root / f"frozen-{processes}.yaml"
        path.write_text(recipe_to_yaml(tiny_recipe(model, job_title_classes, out, "frozen",
                                                   f"frozen.cache_dir={root / f'cache-{processes}'}")))
        train(path, processes)
        metrics[processes] = json.loads((out / "metrics.json").read_text())
        assert len(list((root / f"cache-{processes}").glob("*.npy"))) >= 3  # train, validation, test features
    for one in sorted((root / "cache-1").glob("*.npy")):
        assert np.abs(np.load(one) - np.load(root / "cache-2" / one.name)).max() < 1e-5, one.name
    for side in ("before", "after"):
        for split, values in metrics[1][side].items():
            assert abs(values["accuracy"] - metrics[2][side][split]["accuracy"]) <= 1 / 30 + 1e-9, (side, split)


def test_mlm_runs_under_two_processes(setting, tmp_path):
    import pandas as pd

    from domaintune.core.resources import resource_path

    root, model = setting
    esco = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    corpus = tmp_path / "domain.txt"
    corpus.write_text("\n".join(f"{r.preferred_label} is also called {r.alt_labels.replace(chr(10), ', ')}."
                                for r in esco[:200].itertuples()))
    out = tmp_path / "mlm"
    path = tmp_path / "mlm.yaml"
    path.write_text(recipe_to_yaml(load_recipe(None, [
        "task=mlm", f"model.name={model}", "model.max_seq_length=32", f"data.train={corpus}", "training.max_steps=6",
        "training.eval_steps=3", "training.batch_size=4", "evaluation.max_eval_blocks=20", f"output.dir={out}"])))
    res = train(path, 2)
    m = json.loads((out / "metrics.json").read_text())
    assert (m["training"]["world_size"], m["training"]["global_batch_size"], m["training"]["global_step"]) == (2, 8, 6)
    assert m["after"]["domain_validation"]["perplexity"] > 1
    assert (out / "model" / "config.json").exists() and len(list((out / "tensorboard").glob("events.*"))) == 1
    assert res.stdout.count("before / after") == 1


@pytest.mark.slow  # ~20-25 s: two-process runs over ~20 s go to the slow suite (the fast one stays < 15 min)
def test_fewshot_and_a_pipeline_run_under_two_processes(setting, job_title_classes, tmp_path):
    """Few-shot: the contrastive phase data-parallel, the rest repeated per rank, rank 0 writing. A pipeline
    (mlm -> classification, and the last stage alone): each stage under both processes, the next stage loading the
    model rank 0 wrote."""
    root, model = setting
    from tests.fewshot.test_end_to_end import recipe as fewshot_recipe

    fewshot = tmp_path / "fewshot"
    path = tmp_path / "fewshot.yaml"
    path.write_text(recipe_to_yaml(fewshot_recipe(model, job_title_classes, fewshot)))
    res = train(path, 2)
    m = json.loads((fewshot / "metrics.json").read_text())
    assert [s["seed"] for s in m["seeds"]] == [0, 1] and sorted(p.name for p in (fewshot / "seeds").glob("*.json")) \
        == ["0.json", "1.json"]
    assert m["seeds"][0]["body"]["steps"] > 0 and (fewshot / "model").exists()
    assert res.stdout.count("before / after") == 1

    corpus = tmp_path / "domain.txt"
    corpus.write_text("\n".join(f"{t} works with {u}" for t in ("nurse", "cook", "pilot", "welder", "judge")
                                for u in ("people", "tools", "data", "machines", "food", "aircraft")))
    stages = [{"task": "mlm", "data": {"train": str(corpus)}, "training": {"max_steps": 4, "eval_steps": 2},
               "evaluation": {"general_text": False, "max_eval_blocks": 10}},
              {"task": "classification", "strategy": "full",
               "data": {"train": str(job_title_classes / "train.csv"), "test": str(job_title_classes / "test.csv")},
               "training": {"max_steps": 4, "eval_steps": 2}, "frozen": {"cache_dir": str(tmp_path / "c")}}]
    pipeline = tmp_path / "pipeline"
    path = tmp_path / "pipeline.yaml"
    path.write_text(recipe_to_yaml(load_recipe(None, ["task=pipeline", f"model.name={model}",
                                                      f"output.dir={pipeline}", f"stages={json.dumps(stages)}"])))
    train(path, 2)
    m = json.loads((pipeline / "metrics.json").read_text())
    assert [s["stage"] for s in m["stages"]] == ["1-mlm", "2-classification"]
    assert "pipeline_vs_alone" in m and (pipeline / "alone-classification" / "model").exists()
    for stage in ("1-mlm", "2-classification", "alone-classification"):
        assert json.loads((pipeline / stage / "metrics.json").read_text())["training"]["world_size"] == 2


@pytest.mark.slow  # ~20-25 s: two-process runs over ~20 s go to the slow suite (the fast one stays < 15 min)
@pytest.mark.parametrize("tied", [True, False])
def test_tsdae_under_two_processes_matches_one(setting, tmp_path, tied):
    """TSDAE: the encoder goes through the DDP-wrapped model and the decoder's own weights (outside it) have their
    gradients averaged across the two processes, so encoder and decoder come out as one process's with the same
    global batch. Every text has the same number of tokens, so the two halves' token-averaged losses average to
    the whole batch's."""
    from transformers import AutoTokenizer

    root, model = setting
    tokenizer = AutoTokenizer.from_pretrained(model)
    words = [w for w in ("nurse", "cook", "pilot", "welder", "judge", "tools", "data", "food", "people", "machines",
                         "senior", "chief", "assistant", "night", "school", "farm")
             if len(tokenizer.tokenize(w)) == 1]
    assert len(words) >= 8
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"{a} {b} {c} {d}" for a in words[:4] for b in words[4:8] for c in words[:4]
                                for d in words[4:8]) + "\n")  # 256 distinct texts of 4 one-token words
    weights = {}
    for processes in (1, 2):
        out = tmp_path / f"tsdae-{processes}"
        path = tmp_path / f"tsdae-{processes}.yaml"
        path.write_text(recipe_to_yaml(load_recipe(None, [
            "task=tsdae", f"model.name={model}", "model.max_seq_length=16", f"data.train={corpus}",
            f"training.batch_size={16 // processes}", "training.max_steps=4", "training.eval_steps=4",
            "training.learning_rate=1e-3", "evaluation.stsb=false", f"output.dir={out}", f"tsdae.tie_decoder={tied}"])))
        train(path, processes)
        m = json.loads((out / "metrics.json").read_text())
        assert (m["training"]["world_size"], m["training"]["global_batch_size"]) == (processes, 16)
        weights[processes] = (load_file(str(out / "model" / "model.safetensors")),
                              load_file(str(out / "checkpoints" / "checkpoint-4" / "tsdae_decoder.safetensors")))
    for one, two in zip(weights[1], weights[2], strict=True):
        assert max(float(abs(one[k] - two[k]).max()) for k in one) < 1e-4
