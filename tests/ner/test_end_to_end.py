"""NER on a tiny random BERT: CoNLL in, windows for long sentences, full and LoRA, seqeval metrics, spans with
character offsets, identical predictions after a reload in a fresh process."""

import json
import os
import subprocess
import sys

import pytest

from domaintune import api
from domaintune.ner.tagger import encode_windows, load_tagger
from domaintune.registry import load_recipe

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie"]
PLACES = ["London", "Paris", "Berlin", "Madrid"]


def sentences(n):
    out = []
    for k in range(n):
        person, place = PEOPLE[k % 4].split(), PLACES[(k // 4) % 4]
        words = [*person, "lived", "in", place, "."] + (["and"] * 40 if k % 25 == 0 else [])  # some long ones
        tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O"] + (["O"] * 40 if k % 25 == 0 else [])
        out.append("\n".join(f"en:{w}\t{t}" for w, t in zip(words, tags, strict=True)))
    return "\n\n".join(out) + "\n"


def write_ner_files(folder, train: int, test: int):
    """train.tsv and test.tsv of generated CoNLL sentences in `folder` (also used by the deploy and scale tests)."""
    (folder / "train.tsv").write_text(sentences(train))
    (folder / "test.tsv").write_text(sentences(test))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_ner_files(tmp_path_factory.mktemp("ner"), 160, 40)


@pytest.fixture(scope="module", params=["full", "lora"])
def run(request, tiny_bert, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ner_run") / request.param
    recipe = load_recipe(None, ["task=ner", f"strategy={request.param}", f"model.name={tiny_bert}",
                                "model.max_seq_length=24", f"data.train={data / 'train.tsv'}",
                                f"data.test={data / 'test.tsv'}", "training.epochs=4", "training.batch_size=16",
                                "training.learning_rate=3e-3", "adapter.learning_rate=1e-2", "training.eval_steps=10",
                                f"output.dir={out}"])
    return out, api.train(recipe, show_progress=False)


def test_metrics_and_learning(run):
    out, m = run
    assert m["tags"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert set(m["after"]["test"]) == {"precision", "recall", "f1", "token_accuracy"}
    assert set(m["per_class"]["after"]["test"]) == {"LOC", "PER"}
    assert m["run"]["train_windows"] > m["run"]["train_sentences"]  # long sentences were split, not truncated
    assert m["after"]["test"]["token_accuracy"] > 0.8  # a trivially learnable pattern
    for f in ["report.md", "report.html", "metrics.json", "model/domaintune_tagger.json"]:
        assert (out / f).exists(), f


def test_spans_have_character_offsets_and_reload_identically(run, tmp_path):
    out, _ = run
    texts = ["Grace Hopper lived in Berlin .", "and " * 30 + "Alan Turing lived in Paris ."]
    here = load_tagger(out / "model").predict_spans(texts)
    for text, spans in zip(texts, here, strict=True):
        for s in spans:
            assert text[s["start"]:s["end"]] == s["text"] and s["label"] in {"PER", "LOC"}
    code = ("import json, sys; from domaintune.ner.tagger import load_tagger; "
            f"print(json.dumps(load_tagger({str(out / 'model')!r}).predict_spans(json.loads(sys.stdin.read()))))")
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == here
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n\n")
    df = api.predict(out / "model", tmp_path / "in.txt", tmp_path / "out.jsonl")
    assert df.status.tolist() == ["ok", "ok", "empty"] and df.entities.tolist()[:2] == here


def test_a_long_sentence_is_windowed_not_truncated(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    words = ["london"] * 50
    rows = encode_windows(tok, [words], 12, [[1] * 50])
    covered = sorted(w for r in rows for w in r["word_of_token"] if w >= 0)
    assert covered == list(range(50)) and len(rows) > 1 and all(len(r["input_ids"]) <= 12 for r in rows)


def test_resume_after_kill_matches_uninterrupted(run, tiny_bert, data, tmp_path):
    from domaintune.core.recipe import recipe_to_yaml
    from domaintune.registry import load_recipe
    from tests.conftest import kill_then_resume

    ref_dir, ref = run
    recipe = load_recipe(ref_dir / "recipe.yaml", [f"output.dir={tmp_path / 'killed'}"])
    recipe_file = tmp_path / "ner.yaml"
    recipe_file.write_text(recipe_to_yaml(recipe))
    resumed = kill_then_resume(recipe_file, tmp_path / "killed")
    assert resumed["training"]["global_step"] == ref["training"]["global_step"]
    assert resumed["after"]["test"]["f1"] == pytest.approx(ref["after"]["test"]["f1"], abs=0.03)


def test_task_contract_load_predicts_spans(run):
    from domaintune import registry

    out, _ = run
    model = registry.load_model(out / "model")
    assert registry.model_task(out / "model").name == "ner" and model.metadata["tags"][0] == "O"
    spans = model.predict(["Ada Lovelace lived in Paris ."])[0]
    assert all(set(s) == {"start", "end", "label", "text"} for s in spans)
