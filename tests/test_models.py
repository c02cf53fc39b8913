import subprocess
import sys

import pytest

from domaintune.errors import DomaintuneError
from domaintune.models import freeze, load_sentence_model, resolve_model


def test_default_resolves_to_packaged_weights():
    path, local = resolve_model("all-MiniLM-L6-v2")
    assert local and path.endswith("model")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == (path, True)


def test_plain_encoder_gets_mean_pooling(tiny_bert):
    model = load_sentence_model(str(tiny_bert), 32, pooling="mean")
    assert model[1].get_config_dict()["pooling_mode"] == "mean"
    emb = model.encode(["a nurse"])
    assert emb.shape == (1, 32)


def test_missing_local_folder():
    with pytest.raises(DomaintuneError, match="not found"):
        resolve_model("./no/such/model")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(DomaintuneError, match="not a model folder"):
        resolve_model(str(tmp_path))


def test_unreachable_hub_id_says_what_to_do():
    code = ("from domaintune.models import load_sentence_model\n"
            "from domaintune.errors import DomaintuneError\n"
            "try:\n    load_sentence_model('someone/no-such-model-xyz')\n"
            "except DomaintuneError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert "could not be fetched" in out.stdout and "local-dir" in out.stdout, out.stdout + out.stderr


def test_freeze_embeddings_and_layers(tiny_bert):
    model = load_sentence_model(str(tiny_bert), 32)
    counts = freeze(model, embeddings=True, lower_layers=1)
    body = model[0].auto_model
    assert not any(p.requires_grad for p in body.embeddings.parameters())
    assert not any(p.requires_grad for p in body.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in body.encoder.layer[1].parameters())
    assert counts["trainable"] < counts["total"]
    with pytest.raises(DomaintuneError, match="has 2 layers"):
        freeze(model, embeddings=False, lower_layers=5)


def test_interpolate_weights_mixes_float_weights_once_and_keeps_integer_buffers():
    import torch

    from domaintune.models import interpolate_weights

    def net(value: float):
        m = torch.nn.Sequential(torch.nn.Embedding(4, 3), torch.nn.Linear(3, 4, bias=False))
        m[1].weight = m[0].weight  # tied, as in a masked-LM head
        m.register_buffer("ids", torch.arange(4))
        torch.nn.init.constant_(m[0].weight, value)
        return m

    tuned, base = net(1.0), net(3.0)
    base.ids += 10
    interpolate_weights(tuned, base, 0.25)
    assert torch.allclose(tuned[0].weight, torch.full((4, 3), 1.5))  # 0.75 * 1 + 0.25 * 3, not mixed twice
    assert tuned.ids.tolist() == [0, 1, 2, 3]
    with pytest.raises(DomaintuneError, match="interpolate_base"):
        interpolate_weights(tuned, base, 1.0)
