import pytest
import yaml

from domaintune import api
from domaintune.core.recipe import recipe_to_yaml
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe
from domaintune.similarity.recipe import SimilarityRecipe as Recipe


def test_init_writes_every_default_with_a_comment(tmp_path):
    path = api.init("similarity", tmp_path / "r.yaml")
    text = path.read_text()
    recipe = load_recipe(path)
    assert recipe == Recipe()
    data = yaml.safe_load(text)
    assert set(data) == set(Recipe.model_fields)
    for line in text.splitlines()[1:]:
        if line.strip() and not line.strip().startswith("- "):
            assert "  # " in line, f"no comment on: {line}"


def test_init_refuses_to_replace(tmp_path):
    api.init("similarity", tmp_path / "r.yaml")
    with pytest.raises(DomaintuneError, match="exists"):
        api.init("similarity", tmp_path / "r.yaml")


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("training:\n  epocs: 2\n")
    with pytest.raises(DomaintuneError, match=r"unknown key 'training.epocs'"):
        load_recipe(p)


def test_wrong_type_is_named(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("training:\n  batch_size: many\n")
    with pytest.raises(DomaintuneError, match=r"'training.batch_size'.*integer"):
        load_recipe(p)


def test_overrides_and_hash(tmp_path):
    r = load_recipe(None, ["training.epochs=3", "model.name=/some/where", "evaluation.stsb=false"])
    assert r.training.epochs == 3 and r.model.name == "/some/where" and r.evaluation.stsb is False
    assert r.hash() != Recipe().hash()
    # the output folder does not change what is computed
    assert load_recipe(None, ["output.dir=x"]).hash() == Recipe().hash()


def test_yaml_round_trip_keeps_special_strings():
    r = Recipe()
    again = Recipe.model_validate(yaml.safe_load(recipe_to_yaml(r)))
    assert again.data.taxonomy.alternatives_separator == "\n"
    assert again == r


@pytest.mark.parametrize("task", ["classification", "fewshot", "mlm", "ner", "pipeline"])
def test_init_every_task_writes_every_default_with_a_comment(tmp_path, task):
    from domaintune.registry import RECIPES

    path = api.init(task, tmp_path / "r.yaml")
    text = path.read_text()
    assert load_recipe(path) == RECIPES[task]()
    assert set(yaml.safe_load(text)) == set(RECIPES[task].model_fields)
    for line in text.splitlines()[1:]:
        if line.strip() and not line.strip().startswith("- "):
            assert "  # " in line, f"no comment on: {line}"


def test_task_picks_the_recipe_and_unknown_task_is_named(tmp_path):
    assert load_recipe(None, ["task=classification", "strategy=lora"]).adapter.r == 16
    assert load_recipe(None, ["task=fewshot"]).training.body_loss == "cosine_mse"
    with pytest.raises(DomaintuneError, match="unknown task 'translation'"):
        load_recipe(None, ["task=translation"])
    with pytest.raises(DomaintuneError, match="unknown key 'strategy'"):
        load_recipe(None, ["strategy=full"])  # a similarity recipe has no strategy


def test_adapter_learning_rate_and_epochs_replace_trainings_only_where_set():
    r = load_recipe(None, ["task=classification", "strategy=lora", "training.epochs=1", "training.learning_rate=5e-5",
                           "adapter.epochs=3"])
    t = r.adapter.training(r.training)
    assert (t.epochs, t.learning_rate) == (3, 1e-3)  # adapter's epochs and its default rate
    assert (r.training.epochs, r.training.learning_rate) == (1, 5e-5)  # the recipe itself is untouched
    r = load_recipe(None, ["task=classification", "strategy=lora", "adapter.learning_rate=null"])
    assert r.adapter.training(r.training) == r.training


def test_classification_pooling_pooler_is_for_trained_encoders_and_changes_the_hash():
    with pytest.raises(DomaintuneError, match="model.pooling"):
        load_recipe(None, ["task=classification", "strategy=frozen", "model.pooling=pooler"])
    full = load_recipe(None, ["task=classification", "strategy=full"])
    pooler = load_recipe(None, ["task=classification", "strategy=full", "model.pooling=pooler"])
    assert full.model.pooling == "mean" and full.hash() != pooler.hash()
    # the frozen strategy ignores the adapter section, full and adapters the frozen one
    assert (load_recipe(None, ["task=classification", "strategy=frozen", "adapter.r=4"]).hash()
            == load_recipe(None, ["task=classification", "strategy=frozen"]).hash())
    with pytest.raises(DomaintuneError, match="model.pooling"):
        load_recipe(None, ["task=fewshot", "model.pooling=pooler"])
