"""SimCSE's objective: each text its own positive (two dropout passes), in-batch negatives."""

from __future__ import annotations


def test_each_text_is_its_own_positive_under_in_batch_negatives(tiny_bert, tmp_path):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from domaintune.models import load_sentence_model
    from domaintune.registry import load_recipe
    from domaintune.simcse.task import objective

    recipe = load_recipe(None, ["task=simcse", f"model.name={tiny_bert}", f"output.dir={tmp_path / 'r'}"])
    texts = ["a nurse", "a welder", "a judge"]
    obj = objective(recipe, load_sentence_model(str(tiny_bert)), texts, tmp_path)
    assert obj.columns == {"anchor": texts, "positive": texts}
    assert isinstance(obj.loss, MultipleNegativesRankingLoss) and obj.loss.scale == recipe.training.scale
    assert "SimCSE" in obj.description


def test_matryoshka_dims_wrap_simcses_loss(tiny_bert, tmp_path):
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

    from domaintune.models import load_sentence_model
    from domaintune.registry import load_recipe
    from domaintune.simcse.task import objective

    recipe = load_recipe(None, ["task=simcse", f"model.name={tiny_bert}", "training.matryoshka_dims=[8, 16]",
                                f"output.dir={tmp_path / 'r'}"])
    obj = objective(recipe, load_sentence_model(str(tiny_bert)), ["a nurse", "a welder"], tmp_path)
    assert isinstance(obj.loss, MatryoshkaLoss) and list(obj.loss.matryoshka_dims) == [32, 16, 8]  # full added
