"""Trainer callbacks: a rich progress bar with ETA, and checkpoint completion markers for safe resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

from transformers import TrainerCallback

from domaintune.core.io import atomic_write_text, honour_umask

COMPLETE_MARKER = "domaintune_checkpoint_complete.json"


class RichProgressCallback(TrainerCallback):
    """One progress bar: step / total, elapsed, ETA, latest loss and validation metric."""

    def __init__(self, metric_key: str, console=None, enabled: bool = True):
        self.metric_key = metric_key
        self.console = console
        self.enabled = enabled
        self.progress = None
        self.task = None
        self.loss = float("nan")
        self.metric = float("nan")

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.enabled or not state.is_world_process_zero:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def _info(self) -> str:
        return f"loss {self.loss:.4f}  val {self.metric:.4f}"

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress:
            self.progress.update(self.task, completed=state.global_step, info=self._info())

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.loss = logs["loss"]
        if self.metric_key in logs:
            self.metric = logs[self.metric_key]
        if self.progress:
            self.progress.update(self.task, info=self._info())

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress:
            self.progress.update(self.task, completed=state.global_step, info=self._info())
            self.progress.stop()
            self.progress = None


class CheckpointCompleteCallback(TrainerCallback):
    """transformers writes a checkpoint file by file; a kill in the middle leaves a half folder.
    After each save, mark the folder complete; resume only ever picks a marked checkpoint."""

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            honour_umask(folder)
            atomic_write_text(folder / COMPLETE_MARKER, json.dumps({"global_step": state.global_step}))


def latest_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint folder with a completion marker; unmarked ones are left for inspection."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return None
    found = []
    for d in checkpoint_dir.iterdir():
        if d.is_dir() and d.name.startswith("checkpoint-") and (d / COMPLETE_MARKER).exists():
            try:
                found.append((int(d.name.split("-")[1]), d))
            except ValueError:
                continue
    return max(found)[1] if found else None


def remove_incomplete_checkpoints(checkpoint_dir: Path) -> list[str]:
    """Rename half-written checkpoint folders out of transformers' way (nothing is deleted)."""
    moved = []
    if not Path(checkpoint_dir).is_dir():
        return moved
    for d in Path(checkpoint_dir).iterdir():
        if d.is_dir() and d.name.startswith("checkpoint-") and not (d / COMPLETE_MARKER).exists():
            target = d.with_name(f"incomplete-{d.name}-{os.getpid()}")
            os.replace(d, target)
            moved.append(target.name)
    return moved
