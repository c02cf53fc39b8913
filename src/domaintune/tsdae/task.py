"""TSDAE (Wang et al., 2021) on raw domain text: each text is damaged (60% of its words deleted) and a decoder, tied
to the encoder, must rebuild the whole text from the encoder's one sentence embedding (sentence-transformers'
DenoisingAutoEncoderLoss). The run itself, top to bottom, is the one every label-free task shares
(unsupervised/run.py); this module gives its objective.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss
from transformers import TrainerCallback

from domaintune.core.io import atomic_write_bytes
from domaintune.errors import DomaintuneError
from domaintune.tsdae.noise import noisy_copies
from domaintune.tsdae.recipe import TSDAERecipe
from domaintune.unsupervised.run import Objective, load, run_unsupervised, write_report

log = logging.getLogger("domaintune")

DECODER_FILE = "tsdae_decoder.safetensors"

__all__ = ["run", "write_report", "load", "objective", "tsdae_loss"]


def run(recipe: TSDAERecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    return run_unsupervised(recipe, objective, resume, overwrite, show_progress)


def objective(recipe: TSDAERecipe, model, texts: list[str], run_dir: Path) -> Objective:
    """(damaged text, text) rows, the denoising loss, and the callback that keeps the decoder in checkpoints."""
    cfg = recipe.tsdae
    loss = tsdae_loss(model, cfg.tie_decoder)
    return Objective({"noisy": noisy_copies(texts, cfg.deletion_ratio, recipe.training.seed), "text": texts}, loss,
                     f"TSDAE: {cfg.deletion_ratio:.0%} of words deleted, decoder "
                     f"{'tied to' if cfg.tie_decoder else 'separate from'} the encoder",
                     [DecoderOwnWeights(loss, Path(run_dir) / "checkpoints")])


def tsdae_loss(model, tie_decoder: bool):
    """sentence-transformers' DenoisingAutoEncoderLoss with the encoder's own architecture as the decoder
    (BertLMHeadModel for BERT-family encoders: cross-attention on the sentence embedding, an LM head). Tied, the
    decoder shares every encoder weight but the pooler (checked here: with this transformers version, tying is
    done by sentence-transformers' `_tie_encoder_decoder_weights`; if it tied nothing the run would train a
    separate decoder without saying so)."""
    import transformers

    name = model.transformers_model.config._name_or_path
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the decoder's new tensors are expected; said below in one line
    try:
        loss = TSDAELoss(model, decoder_name_or_path=None if tie_decoder else name, tie_encoder_decoder=tie_decoder)
    finally:
        transformers.logging.set_verbosity(verbosity)
    encoder = {id(p) for p in model.transformers_model.parameters()}
    shared = [n for n, p in loss.decoder.named_parameters() if id(p) in encoder]
    own = [n for n, p in loss.decoder.named_parameters() if id(p) not in encoder]
    if tie_decoder and not shared:
        raise DomaintuneError(f"TSDAE: the decoder of {name} could not be tied to the encoder (no shared weights); "
                              "set tsdae.tie_decoder: false")
    log.info("TSDAE decoder %s: %d tensors shared with the encoder, %d its own (cross-attention, LM head)",
             type(loss.decoder).__name__, len(shared), len(own))
    return loss


class TSDAELoss(DenoisingAutoEncoderLoss):
    """sentence-transformers' DenoisingAutoEncoderLoss, its encoder kept under the name `model`. Under several
    processes sentence-transformers' trainer hands the DDP-wrapped model to a loss through its `model` child; the
    original keeps the encoder as `encoder`, so it would encode through the unwrapped model and DDP would average
    none of the encoder's gradients (measured: each rank's encoder drifted from one process's)."""

    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        self.model = self._modules.pop("encoder")

    @property
    def encoder(self):  # the parent's forward and tying read self.encoder
        return self.model


class DecoderOwnWeights(TrainerCallback):
    """Saves TSDAE's decoder-only weights (cross-attention, LM head: the tied ones are in the model) into each
    checkpoint before it is marked complete, and loads them back when a run resumes from one, so a resumed run
    continues with the decoder it had, not a fresh one.

    Under several processes it also averages those weights' gradients before each optimiser step: they live in the
    loss, outside the model that DDP wraps (sentence-transformers' trainer optimises them but does not wrap them),
    so DDP would leave each rank with its own. The tied weights are the model's and DDP averages them. As in one
    process, these own weights are not in the trainer's gradient clipping (it clips the model's parameters)."""

    def __init__(self, loss, checkpoint_dir: Path):
        encoder = {id(p) for p in loss.encoder.parameters()}
        self.own = {n: p for n, p in loss.decoder.named_parameters() if id(p) not in encoder}
        self.checkpoint_dir = checkpoint_dir

    def on_save(self, args, state, control, **kwargs):
        from safetensors.torch import save

        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            atomic_write_bytes(folder / DECODER_FILE, save({n: p.detach().cpu().contiguous()
                                                            for n, p in self.own.items()}))

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        import torch.distributed as dist

        from domaintune.core.distributed import world_size

        if world_size() == 1:
            return
        for p in self.own.values():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world_size()

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:  # a fresh start (a resumed run's state comes from its checkpoint)
            return
        import torch
        from safetensors.torch import load_file

        path = self.checkpoint_dir / f"checkpoint-{state.global_step}" / DECODER_FILE
        if not path.exists():
            raise DomaintuneError(f"{path.parent}: no {DECODER_FILE} to resume TSDAE's decoder from")
        with torch.no_grad():
            for n, value in load_file(str(path)).items():
                self.own[n].copy_(value.to(self.own[n].device))
        log.info("TSDAE decoder restored from %s", path.parent.name)
