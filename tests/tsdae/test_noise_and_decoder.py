"""TSDAE's own parts: word-deletion noise and the decoder tied to the encoder."""

from __future__ import annotations

import random


def test_tsdae_decoder_is_tied_to_the_encoder_and_its_own_weights_train(tiny_bert):
    import torch

    from domaintune.models import load_sentence_model
    from domaintune.tsdae.task import tsdae_loss

    model = load_sentence_model(str(tiny_bert), 24)
    loss = tsdae_loss(model, tie_decoder=True)
    encoder = model.transformers_model
    assert loss.decoder.bert.encoder.layer[0].attention.self.query.weight is \
        encoder.encoder.layer[0].attention.self.query.weight
    assert loss.decoder.bert.embeddings.word_embeddings.weight is encoder.embeddings.word_embeddings.weight
    words = encoder.embeddings.word_embeddings.weight
    assert loss.decoder.cls.predictions.decoder.weight.data_ptr() == words.data_ptr()  # the LM head's output too
    cross = loss.decoder.bert.encoder.layer[0].crossattention.self.query.weight
    assert all(cross is not p for p in encoder.parameters())  # the cross-attention is the decoder's own

    feats = [model.preprocess(["nurse", "data engineer"]), model.preprocess(["registered nurse", "big data engineer"])]
    value = loss(feats, torch.zeros(2))
    value.backward()
    assert torch.isfinite(value) and cross.grad is not None and cross.grad.abs().sum() > 0
    assert encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0  # through the tied weights


def test_deletion_noise_deletes_about_the_ratio_and_keeps_a_word():
    from domaintune.tsdae.noise import delete_words, noisy_copies

    rng = random.Random(0)
    text = " ".join(f"w{i}" for i in range(1000))
    kept = len(delete_words(text, 0.6, rng).split())
    assert 340 < kept < 460  # 60% deleted
    assert all(delete_words("one", 0.99, rng) == "one" for _ in range(20))  # at least one word survives
    assert noisy_copies(["a b c d", "e f g h"], 0.6, 7) == noisy_copies(["a b c d", "e f g h"], 0.6, 7)
