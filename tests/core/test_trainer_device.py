"""Recipe settings for larger machines: device, precision and gradient checkpointing reach the trainer; batch
sizes per device and global are recorded; asking for what the machine lacks is a one-line error."""

from __future__ import annotations

import pytest

from domaintune import api
from domaintune.core.recipe import TrainingBase
from domaintune.core.trainer import resolve_device, resolve_precision, training_arguments
from domaintune.errors import DomaintuneError
from tests.similarity.test_end_to_end import tiny_recipe


def test_auto_is_fp32_on_a_cpu_and_impossible_requests_are_refused(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this test describes a machine without a GPU")
    assert resolve_device("auto") in ("cpu", "mps") and resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(DomaintuneError, match="training.device is cuda, but torch sees no cuda"):
        resolve_device("cuda")
    with pytest.raises(DomaintuneError, match="fp16 needs a GPU"):
        resolve_precision("fp16", "cpu")
    args = training_arguments(TrainingBase(device="cpu", precision="bf16", gradient_checkpointing=True),
                              tmp_path, None, True, 8)
    assert args["use_cpu"] and args["bf16"] and not args["fp16"] and args["activation_checkpointing"]


def test_bf16_and_gradient_checkpointing_train_on_a_cpu(tiny_bert, tiny_taxonomy, tmp_path):
    recipe = tiny_recipe(tiny_bert, tiny_taxonomy, tmp_path / "run", **{
        "training.precision": "bf16", "training.gradient_checkpointing": "true", "training.device": "cpu",
        "training.gradient_accumulation_steps": 2, "training.max_steps": 6})
    m = api.train(recipe, show_progress=False)["training"]
    assert (m["device"], m["precision"], m["world_size"]) == ("cpu", "bf16", 1)
    assert m["per_device_batch_size"] == 16 and m["global_batch_size"] == 32 and m["global_step"] == 6
