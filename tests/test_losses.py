import math

import torch

from domaintune.losses.angular_mse import AngularMSELoss, angular_similarity


def test_angular_similarity_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    sim = angular_similarity(a, b)
    expected = [1 - math.acos(0.99999) / math.pi, 0.5, 1 - math.acos(-0.99999) / math.pi]
    torch.testing.assert_close(sim, torch.tensor(expected), atol=1e-5, rtol=0)


def test_gradient_finite_at_identical_vectors():
    a = torch.tensor([[0.3, 0.4]], requires_grad=True)
    loss = AngularMSELoss(model=None).compute_loss_from_embeddings([a, a.detach().clone()], torch.tensor([0.0]))
    loss.backward()
    assert torch.isfinite(a.grad).all()


def test_build_every_loss(tiny_bert):
    from domaintune.losses import build_loss
    from domaintune.models import load_sentence_model

    model = load_sentence_model(str(tiny_bert), 32)
    for name in ["cosine_mse", "angular_mse", "cosent", "angle", "in_batch_negatives"]:
        feats = [model.preprocess(["a nurse", "a data engineer"]), model.preprocess(["the nurse", "an engineer"])]
        loss = build_loss(name, model)(feats, torch.tensor([1.0, 0.5]))
        assert torch.isfinite(loss), name
