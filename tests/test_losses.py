import math

import torch

from domaintune.similarity.angular_mse import AngularMSELoss, angular_similarity


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
    from domaintune.models import load_sentence_model
    from domaintune.similarity.losses import build_loss

    model = load_sentence_model(str(tiny_bert), 32)
    for name in ["cosine_mse", "angular_mse", "cosent", "angle", "in_batch_negatives"]:
        feats = [model.preprocess(["a nurse", "a data engineer"]), model.preprocess(["the nurse", "an engineer"])]
        loss = build_loss(name, model)(feats, torch.tensor([1.0, 0.5]))
        assert torch.isfinite(loss), name


def test_in_batch_negatives_all_directions(tiny_bert):
    from domaintune.models import load_sentence_model
    from domaintune.similarity.losses import build_loss

    model = load_sentence_model(str(tiny_bert), 32)
    feats = [model.preprocess(["a nurse", "a data engineer"]), model.preprocess(["the nurse", "an engineer"]),
             model.preprocess(["a cook", "a pilot"])]
    one = build_loss("in_batch_negatives", model)
    four = build_loss("in_batch_negatives", model, ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"))
    assert four.directions == ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
    model.eval()
    a, b = one(feats, torch.tensor([1.0, 1.0])), four(feats, torch.tensor([1.0, 1.0]))
    assert torch.isfinite(a) and torch.isfinite(b) and not torch.isclose(a, b)
