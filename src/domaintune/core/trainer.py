"""Trainer mechanics shared by every task: the same TrainingArguments, callbacks and resume rules for the
similarity trainer (sentence-transformers') and the classification trainer (transformers'), so warm-up and
decay, clipping, evaluation every N steps, best checkpoint, early stopping, resume, TensorBoard, progress and
seeding behave identically everywhere.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from domaintune.core.callbacks import (
    CheckpointCompleteCallback,
    RichProgressCallback,
    latest_complete_checkpoint,
    remove_incomplete_checkpoints,
)
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


def training_arguments(t, checkpoint_dir: Path, metric_key: str | None, greater_is_better: bool,
                       eval_batch_size: int) -> dict:
    """Keyword arguments for transformers' TrainingArguments (and sentence-transformers' subclass)
    from a recipe's `training` section (recipe.TrainingBase)."""
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    return dict(
        output_dir=str(checkpoint_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=float(t.warmup_ratio),  # transformers 5: a float < 1 is a ratio of all steps
        lr_scheduler_type=t.scheduler,
        max_grad_norm=t.max_grad_norm,
        optim="adamw_torch_fused",  # transformers' own default on torch >= 2.8; 1.33x per CPU step (bench/RESULTS.md)
        eval_strategy="steps" if metric_key else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.eval_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=bool(metric_key),
        metric_for_best_model=metric_key,
        greater_is_better=greater_is_better,
        logging_steps=max(1, min(10, t.eval_steps)),
        report_to="none",
        seed=t.seed,
        data_seed=t.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=t.gradient_checkpointing,  # transformers 5.2x: the new name of gradient checkpointing
    )


def resolve_device(device: str) -> str:
    """The recipe's `training.device` made concrete; asking for what torch does not see is an error."""
    import torch

    cuda = torch.cuda.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (device == "cuda" and not cuda) or (device == "mps" and not mps):
        raise DomaintuneError(f"recipe: training.device is {device}, but torch sees no {device} device here; use "
                              "auto or cpu")
    return device


def resolve_precision(precision: str, device: str) -> str:
    """`training.precision` for `device`: auto is bf16 on a GPU that supports it, else fp32."""
    import torch

    bf16_ok = device == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "auto":
        return "bf16" if bf16_ok else "fp32"
    if precision == "fp16" and device == "cpu":
        raise DomaintuneError("recipe: training.precision fp16 needs a GPU; on a CPU use fp32 (or bf16)")
    if precision == "bf16" and device == "cuda" and not bf16_ok:
        raise DomaintuneError("recipe: training.precision bf16: this GPU has no bf16; use fp16 or fp32")
    return precision


def fit(trainer_cls, args_cls, t, run_dir: Path, metric_key: str | None, greater_is_better: bool,
        eval_batch_size: int, rows: int, resume: bool, show_progress: bool, extra_args: dict | None = None,
        extra_callbacks: list | None = None, **trainer_kwargs):
    """The one set-up -> resume -> train -> statistics path of every task that trains with a transformers-style
    trainer (transformers' Trainer, sentence-transformers' SentenceTransformerTrainer): the same arguments,
    callbacks, checkpoint rules and statistics; `extra_args` add to or replace TrainingArguments. Checkpoints go to
    RUN/checkpoints. Returns (trainer, statistics); with a `metric_key` the best checkpoint is loaded at the end,
    without one (no validation set) the last state is kept. `extra_callbacks` run before domaintune's own (e.g. to
    save more into a checkpoint before it is marked complete)."""
    checkpoint_dir = Path(run_dir) / "checkpoints"
    args = args_cls(**{**training_arguments(t, checkpoint_dir, metric_key, greater_is_better, eval_batch_size),
                       **(extra_args or {})})
    trainer = trainer_cls(args=args, callbacks=[*(extra_callbacks or []), *callbacks(t, run_dir, metric_key,
                                                                                      show_progress)],
                          **trainer_kwargs)
    log.info("training on %s, %s: batch %d per device x %d accumulation x %d process(es) = global batch %d",
             args.device, precision_of(args), t.batch_size, t.gradient_accumulation_steps, args.world_size,
             global_batch(t, args.world_size))
    prepare_trainer(trainer)
    resume_from = resume_checkpoint(checkpoint_dir, resume)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    stats = run_statistics(trainer, result, time.perf_counter() - start, resume_from, rows, t, metric_key)
    stats.update(device=str(args.device), precision=precision_of(args), per_device_batch_size=t.batch_size,
                 world_size=args.world_size, global_batch_size=global_batch(t, args.world_size))
    return trainer, stats


def precision_of(args) -> str:
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def global_batch(t, world_size: int) -> int:
    """Rows per optimiser update over all processes."""
    return t.batch_size * t.gradient_accumulation_steps * world_size


def callbacks(t, run_dir: Path, metric_key: str, show_progress: bool) -> list:
    """Progress bar, checkpoint completion markers, early stopping and TensorBoard, as the recipe asks."""
    from transformers import EarlyStoppingCallback
    from transformers.integrations import TensorBoardCallback

    from domaintune.core.distributed import is_main

    out = [RichProgressCallback(metric_key, enabled=show_progress and is_main()), CheckpointCompleteCallback()]
    if t.early_stopping.patience > 0:
        out.append(EarlyStoppingCallback(t.early_stopping.patience, t.early_stopping.min_delta))
    if t.tensorboard and is_main():  # one event file per run, not per process
        from torch.utils.tensorboard import SummaryWriter

        out.append(TensorBoardCallback(tb_writer=SummaryWriter(str(Path(run_dir) / "tensorboard"))))
    return out


def prepare_trainer(trainer) -> None:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the rich progress bar replaces the raw log dicts


def resume_checkpoint(checkpoint_dir: Path, resume: bool) -> str | None:
    """The checkpoint to resume from: the newest *complete* one (half-written ones after a kill are set aside)."""
    if not resume:
        return None
    moved = remove_incomplete_checkpoints(checkpoint_dir)
    if moved:
        log.warning("set aside half-written checkpoint(s) from the interrupted run: %s", ", ".join(moved))
    latest = latest_complete_checkpoint(checkpoint_dir)
    if latest is None:
        log.info("no complete checkpoint yet: training starts from the beginning")
        return None
    log.info("resuming from %s", latest)
    return str(latest)


def run_statistics(trainer, result, seconds: float, resume_from: str | None, rows: int, t, metric_key: str) -> dict:
    """What every trainer reports: time, steps, throughput, best checkpoint, early stop, loss, log history."""
    state = trainer.state
    steps_run = state.global_step - (int(Path(resume_from).name.split("-")[1]) if resume_from else 0)
    seen = steps_run * global_batch(t, trainer.args.world_size)
    return {
        "seconds": round(seconds, 2),
        "global_step": state.global_step,
        "epochs": round(state.epoch or 0.0, 3),
        "rows_per_second": round(min(seen, rows * max(1, t.epochs)) / seconds, 2) if seconds > 0 else None,
        "best_step": state.best_global_step,
        "validation_metric_key": metric_key,
        "best_validation_metric": state.best_metric,
        "stopped_early": bool(t.early_stopping.patience > 0 and state.global_step < state.max_steps),
        "resumed_from": resume_from,
        "train_loss": result.training_loss,
        "log_history": state.log_history,
    }
