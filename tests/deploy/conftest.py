"""Tiny models of each kind, trained and exported once per session: an embedder (ONNX fp32), a LoRA classifier
(ONNX fp32) and a NER tagger (OpenVINO fp32)."""

from __future__ import annotations

import pytest

from domaintune import api
from domaintune.registry import load_recipe
from tests.classification.test_end_to_end import tiny_recipe
from tests.ner.test_end_to_end import write_ner_files

PARITY_TEXTS = 200  # STSb test sentences for the agreement check (all 2,758 in real exports)


@pytest.fixture(scope="session")
def exported_embedder(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "embedder-onnx"
    record = api.export(tiny_bert, out, "onnx", "none", parity_texts=PARITY_TEXTS)
    return tiny_bert, out, record


@pytest.fixture(scope="session")
def lora_classifier(tiny_bert, job_title_classes, tmp_path_factory):
    run = tmp_path_factory.mktemp("deploy_cls") / "lora"
    api.train(tiny_recipe(tiny_bert, job_title_classes, run, "lora"), show_progress=False)
    out = run.parent / "lora-onnx"
    record = api.export(run / "model", out, "onnx", "none", parity_texts=PARITY_TEXTS)
    return run / "model", out, record


@pytest.fixture(scope="session")
def ner_tagger(tiny_bert, tmp_path_factory):
    folder = write_ner_files(tmp_path_factory.mktemp("deploy_ner"), 120, 30)
    run = folder / "run"
    recipe = load_recipe(None, ["task=ner", "strategy=full", f"model.name={tiny_bert}", "model.max_seq_length=24",
                                f"data.train={folder / 'train.tsv'}", f"data.test={folder / 'test.tsv'}",
                                "training.epochs=4", "training.batch_size=16", "training.learning_rate=3e-3",
                                "training.eval_steps=10", f"output.dir={run}"])
    api.train(recipe, show_progress=False)
    out = folder / "ner-openvino"
    record = api.export(run / "model", out, "openvino", "none", parity_texts=PARITY_TEXTS)
    return run / "model", out, record
