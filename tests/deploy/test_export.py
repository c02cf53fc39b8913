"""Export -> reload -> the same predictions, for an embedder, a LoRA classifier and a NER tagger; the parity
record in every folder; the int8 refusal; torch never imported by the exported runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from domaintune import api, registry
from domaintune.classification.model import ExportedClassifier
from domaintune.deploy import export as export_module
from domaintune.embedding.predictor import ExportedEmbedder
from domaintune.errors import DomaintuneError
from domaintune.ner.tagger import ExportedTagger

TEXTS = ["software developer", "registered nurse", "A man is playing a guitar.", "welder " * 60]


def test_embedder_reloads_with_the_same_embeddings(exported_embedder):
    source, folder, record = exported_embedder
    exported = registry.load_model(folder)
    assert isinstance(exported, ExportedEmbedder)
    a, b = registry.load_model(source).predict(TEXTS), exported.predict(TEXTS)
    assert a.shape == b.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)  # normalised inside the graph
    assert (a * b).sum(axis=1).min() > 0.9999
    assert exported.metadata["backend"] == "onnxruntime" and exported.metadata["precision"] == "fp32"


def test_every_export_carries_its_parity_check(exported_embedder, lora_classifier, ner_tagger):
    for _, folder, record in (exported_embedder, lora_classifier, ner_tagger):
        on_disk = json.loads((folder / "export.json").read_text())
        assert on_disk["parity"] == record["parity"]
        assert on_disk["parity"]["agreement"]["texts"] == 200
        assert "## Parity with the torch model" in (folder / "README.md").read_text()
    emb = exported_embedder[2]["parity"]
    assert emb["metrics"]["stsb_test"]["metric"] == "spearman"  # no run folder: STS benchmark test
    assert abs(emb["metrics"]["stsb_test"]["delta_points"]) < 0.01 and emb["agreement"]["worst_cosine"] > 0.9999
    cls = lora_classifier[2]["parity"]
    assert "test" in cls["metrics"] and cls["agreement"]["same_labels"] == 1.0  # the run's own test file
    ner = ner_tagger[2]["parity"]
    # OpenVINO fp32 may flip a near-tie of the random tiny tagger on a text or two
    assert "test" in ner["metrics"] and ner["agreement"]["same_spans"] >= 0.98


def test_lora_classifier_reloads_with_the_same_probabilities(lora_classifier):
    source, folder, record = lora_classifier
    exported = registry.load_model(folder)
    assert isinstance(exported, ExportedClassifier) and exported.strategy == "lora"
    p, cut_p = registry.load_model(source).predict_proba(TEXTS)
    q, cut_q = exported.predict_proba(TEXTS)
    assert np.abs(p - q).max() < 1e-4 and cut_p == cut_q == [False, False, False, True]
    assert [r["labels"] for r in exported.predict(TEXTS)] == registry.load_model(source).decide(p)


def test_ner_tagger_reloads_with_the_same_spans(ner_tagger):
    source, folder, record = ner_tagger
    exported = registry.load_model(folder)
    assert isinstance(exported, ExportedTagger) and exported.metadata["backend"] == "openvino"
    texts = ["Ada Lovelace lived in Paris .", "Grace Hopper lived in Berlin . " + "and " * 60 + "Alan Turing"]
    spans = exported.predict(texts)
    assert spans == registry.load_model(source).predict(texts)
    assert all(t[s["start"]:s["end"]] == s["text"] for t, row in zip(texts, spans, strict=True) for s in row)


def test_cli_commands_read_an_export(exported_embedder, lora_classifier, ner_tagger, tmp_path):
    _, emb_folder, _ = exported_embedder
    (tmp_path / "in.txt").write_text("software developer\nnurse\n\n")
    emb = api.embed(str(emb_folder), input=tmp_path / "in.txt", output=tmp_path / "e.npy")
    assert emb.shape[0] == 2 and np.load(tmp_path / "e.npy").shape == emb.shape
    assert 0.99 < api.similarity(str(emb_folder), "nurse", "nurse") < 1.01
    df = api.predict(lora_classifier[1], tmp_path / "in.txt", tmp_path / "p.csv")
    assert list(df.status) == ["ok", "ok", "empty"] and (tmp_path / "p.csv").exists()
    ner = api.predict(ner_tagger[1], tmp_path / "in.txt", tmp_path / "n.jsonl")
    assert len(ner) == 3
    with pytest.raises(DomaintuneError, match="gives labels, not embeddings"):
        api.embed(str(lora_classifier[1]), ["x"])
    with pytest.raises(DomaintuneError, match="not a domaintune classifier or NER"):
        api.predict(emb_folder, tmp_path / "in.txt")


def test_exported_runtime_never_imports_torch(exported_embedder, lora_classifier, ner_tagger, tmp_path):
    (tmp_path / "in.txt").write_text("software developer\nnurse\n")
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch fails
from domaintune import api, registry
print(api.embed({str(exported_embedder[1])!r}, ["a nurse"]).shape)
print(len(api.predict({str(lora_classifier[1])!r}, {str(tmp_path / 'in.txt')!r})))
print(registry.load_model({str(ner_tagger[1])!r}).predict(["Ada Lovelace lived in Paris ."]))
from domaintune.deploy.server import Limits, create_app, load_models
create_app(load_models([{str(exported_embedder[1])!r}], Limits(), registry.load_model), Limits())
print("no torch")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("no torch")


@pytest.mark.parametrize("fmt", ["onnx", pytest.param("openvino", marks=pytest.mark.slow)])  # ~20 s each
def test_int8_export_beyond_the_tolerance_is_refused_and_leaves_nothing(tiny_bert, tmp_path, monkeypatch, fmt):
    real_check = export_module.parity.check

    def losing_two_points(*args, **kwargs):
        result = real_check(*args, **kwargs)
        for m in result["metrics"].values():
            m["delta_points"] = -2.0
        return result

    monkeypatch.setattr(export_module.parity, "check", losing_two_points)
    out = tmp_path / "int8"
    with pytest.raises(DomaintuneError, match=r"loses 2.00 points .*tolerance 0.5.*nothing was written"):
        api.export(tiny_bert, out, fmt, "int8", parity_texts=50)
    assert not out.exists() and not list(tmp_path.iterdir())
    record = api.export(tiny_bert, out, fmt, "int8", force=True, parity_texts=50)
    assert record["precision"] == "int8" and record["parity"]["worst_drop_points"] == 2.0
    exported = registry.load_model(out)
    assert isinstance(exported, ExportedEmbedder) and exported.predict(TEXTS).shape == (4, 32)
    layout = {"onnx": "onnx/model_qint8_avx2.onnx", "openvino": "openvino/openvino_model_qint8_quantized.xml"}[fmt]
    assert record["sentence_transformers_files"] == [] or (out / layout).exists()


def test_export_refuses_bad_arguments_and_never_replaces_a_folder(exported_embedder, tmp_path):
    source, folder, _ = exported_embedder
    with pytest.raises(DomaintuneError, match="exists; pass --overwrite"):
        api.export(source, folder)
    with pytest.raises(DomaintuneError, match="unknown format 'tflite'"):
        api.export(source, tmp_path / "x", "tflite")
    with pytest.raises(DomaintuneError, match="unknown 'int4'"):
        api.export(source, tmp_path / "x", "onnx", "int4")
    with pytest.raises(DomaintuneError, match="not a model folder"):
        api.export(tmp_path / "missing", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def weighty_bert(tiny_bert, tmp_path_factory):
    """The tiny BERT with its linear weights x16 (std ~0.3, as large as a trained model's): with init-sized weights
    the attention and feed-forward branches barely touch the output, and int8 rounding there goes unseen."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = tmp_path_factory.mktemp("weighty_bert")
    model = AutoModel.from_pretrained(str(tiny_bert))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.mul_(16.0)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(folder))
    return folder


def batch_dependence(model) -> float:
    """The largest 1 - cosine between a text embedded alone, in a batch of short texts, and beside a long one."""
    long = "a registered nurse working nights in a large city hospital " * 8
    worst = 0.0
    for text in ("data scientist", "welder", "A man is playing a guitar."):
        alone = model.predict([text])[0]
        short = model.predict(["nurse", text, "baker", "a welder in a shipyard"])[1]
        beside = model.predict([long, text])[1]
        worst = max(worst, 1 - float(alone @ short), 1 - float(alone @ beside))
    return worst


@pytest.mark.parametrize("fmt,quantize", [("onnx", "none"), ("onnx", "int8"), ("openvino", "none"),
                                          ("openvino", "int8")])
def test_every_export_gives_a_text_the_same_embedding_whatever_it_is_batched_with(weighty_bert, tmp_path, fmt,
                                                                                   quantize):
    """Static activation scales (int8) and per-row arithmetic: alone, in a batch of short texts and beside a long
    one, within 1e-4 cosine."""
    out = tmp_path / f"{fmt}-{quantize}"
    api.export(weighty_bert, out, fmt, quantize, parity_texts=20, force=True)  # a random model: parity is moot
    assert batch_dependence(registry.load_model(out)) < 1e-4


def test_the_batch_check_sees_dynamic_int8s_dependence_when_texts_share_a_call(weighty_bert, tmp_path):
    """The control: ONNX int8's dynamic activation scales cover the whole call, so the same graph run in batches
    (ignoring its record's one text per call) fails the check the export passes (about 7e-4 here)."""
    api.export(weighty_bert, tmp_path / "int8", "onnx", "int8", parity_texts=20, force=True)
    model = registry.load_model(tmp_path / "int8")
    assert model.graph.rows_per_call == 1 and batch_dependence(model) < 1e-4
    model.graph.pool = None  # the graph as it is, rows sharing a call
    assert batch_dependence(model) > 1e-4


def test_an_export_with_a_text_below_the_minimum_cosine_is_refused_unless_forced(tiny_bert, tmp_path):
    out = tmp_path / "int8"
    with pytest.raises(DomaintuneError, match=r"cosine .* from its torch embedding \(minimum 1.5; 1st percentile"):
        api.export(tiny_bert, out, "onnx", "int8", tolerance=100, parity_texts=20, min_cosine=1.5)
    assert not out.exists()
    record = api.export(tiny_bert, out, "onnx", "int8", tolerance=100, parity_texts=20, min_cosine=1.5, force=True)
    agreement = record["parity"]["agreement"]
    assert agreement["worst_cosine"] <= agreement["p1_cosine"] + 1e-4 <= agreement["mean_cosine"] + 2e-4  # rounded
    assert record["parity"]["min_cosine"] == 1.5 and "minimum cosine" in (out / "README.md").read_text()
