"""Shared fixtures: a tiny random BERT built on the fly (no download), small data files."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _corpus() -> list[str]:
    import pandas as pd

    from domaintune.core.resources import load_stsb, resource_path

    esco = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    texts = esco.preferred_label.tolist() + [a for cell in esco.alt_labels[:500] for a in cell.split("\n") if a]
    stsb = load_stsb("dev")
    return texts + stsb.text_a.tolist()[:500]


def build_tiny_bert(folder, hidden: int = 32, layers: int = 2, vocab_size: int = 1500):
    """A 2-layer BERT with random weights and a WordPiece vocabulary trained right here."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """Path to a plain transformers encoder folder (no sentence-transformers files)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_taxonomy(tmp_path_factory):
    """A 120-concept slice of the shipped ESCO extract, covering several ISCO groups."""
    import pandas as pd

    from domaintune.core.resources import resource_path

    df = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    df = df[df.alt_labels != ""].sample(n=120, random_state=0)
    path = tmp_path_factory.mktemp("tax") / "taxonomy.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def job_title_classes(tmp_path_factory):
    """A 3-class labelled file from the shipped ESCO extract: job title -> ISCO major group (2, 3 or 7),
    plus a held-out test file. Columns text, label."""
    import pandas as pd

    from domaintune.core.resources import resource_path

    df = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    df["label"] = df.isco_group.str[0]
    df = df[df.label.isin(["2", "3", "7"])]
    rows = pd.concat([df[df.label == k].sample(n=60, random_state=0) for k in ("2", "3", "7")])
    rows = rows.rename(columns={"preferred_label": "text"})[["text", "label"]].sample(frac=1, random_state=1)
    folder = tmp_path_factory.mktemp("cls")
    rows.iloc[:150].to_csv(folder / "train.csv", index=False)
    rows.iloc[150:].to_csv(folder / "test.csv", index=False)
    return folder


def predict_in_fresh_process(folder, texts: list[str]) -> list[list[float]]:
    """Load a saved classifier in a new Python process (no state shared with the test) and predict."""
    import json
    import subprocess
    import sys

    code = ("import json, sys; from domaintune.classification.loading import load_classifier; "
            "texts = json.loads(sys.stdin.read()); "
            f"print(json.dumps(load_classifier({str(folder)!r}).predict_proba(texts)[0].tolist()))")
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def largest_weight_change(base_folder, tuned_folder) -> float:
    """The largest change of any weight between two saved models, tensors matched by name (a task's wrapper
    prefix such as `bert.` ignored). Training moved the weights: a property of the code, where which way a random
    tiny model's metric moves is not."""
    from pathlib import Path

    from safetensors.numpy import load_file

    base = load_file(str(Path(base_folder) / "model.safetensors"))
    tuned = {k.split("bert.", 1)[-1]: v for k, v in load_file(str(Path(tuned_folder) / "model.safetensors")).items()}
    common = [k for k in base if k in tuned and base[k].shape == tuned[k].shape]
    assert common, "no weight of the base model found in the tuned one"
    return max(float(abs(tuned[k] - base[k]).max()) for k in common)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (servers and torchrun in tests bind there only)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_then_resume(recipe_file, out, checkpoints: int = 2, where: str = "checkpoints",
                     resumed_from=lambda m: m["training"]["resumed_from"]) -> dict:
    """Start `domaintune train RECIPE` in a subprocess, kill -9 it once `checkpoints` complete checkpoints
    exist (in OUT/`where`, a glob), then run it again with --resume; returns the resumed run's metrics.json."""
    import json
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "domaintune", "train", str(recipe_file)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for the complete checkpoints, then kill hard
        done = list(out.glob(f"{where}/checkpoint-*/domaintune_checkpoint_complete.json"))
        if len(done) >= checkpoints or proc.poll() is not None:
            break
        time.sleep(0.02)  # tiny runs finish within a second of their first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists(), "the run finished before it could be killed"
    res = subprocess.run([sys.executable, "-m", "domaintune", "train", str(recipe_file), "--resume"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed_from(resumed)
    return resumed


@pytest.fixture(scope="session")
def tiny_multilingual(tmp_path_factory):
    """The same 120 ESCO concepts in English, German and Spanish (files named *_en, *_de, *_es)."""
    import pandas as pd

    from domaintune.core.resources import resource_path

    en = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    ids = en[en.alt_labels != ""].sample(n=120, random_state=0).concept_id
    folder = tmp_path_factory.mktemp("ml")
    paths = {}
    for lang in ("en", "de", "es"):
        df = pd.read_csv(resource_path(f"esco_occupations_{lang}.csv.gz"), dtype=str, keep_default_na=False)
        paths[lang] = folder / f"esco_{lang}.csv"
        df[df.concept_id.isin(ids)].sample(frac=1, random_state=1).to_csv(paths[lang], index=False)
    return paths
