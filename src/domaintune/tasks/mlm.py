"""Continued masked-language-model pretraining on domain text, top to bottom: documents -> blocks -> model
with an MLM head -> perplexity before -> train -> perplexity after -> save a standard transformers folder
(AutoModelForMaskedLM, usable as the base of any later task) -> report.

all-MiniLM-L6-v2 (like most sentence-transformers models) ships no MLM head. AutoModelForMaskedLM then adds a
fresh one (transform + bias; the decoder is tied to the pretrained word embeddings). Its "before" perplexity
measures an untrained head, so any training looks like a huge gain; the log, metrics.json and the report say
so. `mlm.train_head_only: true` trains that head alone on the frozen encoder: the fair baseline for "did the
encoder itself adapt?" (bench/mlm_then_similarity.py runs both).
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

from domaintune.data.corpus import read_documents
from domaintune.errors import DomaintuneError
from domaintune.evaluation.perplexity import PerplexityEvaluator
from domaintune.recipe import MLMRecipe, recipe_to_yaml, save_recipe
from domaintune.reporting import plots
from domaintune.reporting.report import deltas, load_log_history, write_html, write_markdown
from domaintune.tasks.rundir import prepare_run_dir
from domaintune.training.common import callbacks, prepare_trainer, resume_checkpoint, run_statistics, training_arguments
from domaintune.training.masking import MaskingCollator, blocks_from_documents, mask_fixed
from domaintune.utils import atomic_write_json, atomic_write_text, package_versions, save_folder_atomically, set_seed

log = logging.getLogger("domaintune")


def load_documents(recipe: MLMRecipe) -> tuple[list[str], list[str]]:
    d = recipe.data
    if d.train is None:
        raise DomaintuneError("recipe: set data.train (domain text: a .txt file, a folder of .txt files or a table)")
    docs = read_documents(d.train, d.column, d.document_split)
    if d.validation:
        return docs, read_documents(d.validation, d.column, d.document_split)
    if len(docs) < 2:
        raise DomaintuneError(f"{d.train}: {len(docs)} document(s); need at least 2 to hold one out for perplexity")
    order = list(range(len(docs)))
    random.Random(d.split_seed).shuffle(order)
    n_val = max(1, round(len(docs) * d.validation_fraction))
    val, train = [docs[i] for i in sorted(order[:n_val])], [docs[i] for i in sorted(order[n_val:])]
    if d.max_documents:
        train = train[:d.max_documents]
    return train, val


def load_mlm_model(name: str):
    """AutoModelForMaskedLM on the encoder; says plainly when the MLM head is new (not pretrained)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from domaintune.models import encoder_folder

    folder = encoder_folder(name)
    model, info = AutoModelForMaskedLM.from_pretrained(str(folder), output_loading_info=True)
    head_keys = [k for k in info.get("missing_keys", []) if not k.startswith(model.base_model_prefix + ".")]
    if head_keys:
        log.warning("%s has no pretrained MLM head: a fresh head is initialised (%d tensors, e.g. %s), its decoder "
                    "tied to the pretrained word embeddings. 'Before' perplexity measures that untrained head.",
                    name, len(head_keys), head_keys[0])
    return model, AutoTokenizer.from_pretrained(str(folder)), bool(head_keys)


def freeze_encoder(model) -> None:
    """Only the MLM head's own weights train (the decoder, tied to the input embeddings, stays fixed)."""
    for p in model.parameters():
        p.requires_grad = False
    base = getattr(model, model.base_model_prefix)
    embedding_ids = {id(p) for p in base.parameters()}
    for n, p in model.named_parameters():
        if not n.startswith(model.base_model_prefix + ".") and id(p) not in embedding_ids:
            p.requires_grad = True


def run(recipe: MLMRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    run_dir = prepare_run_dir(recipe, resume, overwrite)
    set_seed(recipe.training.seed)
    train_docs, val_docs = load_documents(recipe)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run_dir / "recipe.yaml")

    model, tokenizer, fresh_head = load_mlm_model(recipe.model.name)
    if recipe.mlm.train_head_only:
        freeze_encoder(model)
    m, e = recipe.mlm, recipe.evaluation
    length = recipe.model.max_seq_length
    train_rows = blocks_from_documents(tokenizer, train_docs, length, m.packing, m.whole_word_masking)
    collator = MaskingCollator(tokenizer, m.mlm_probability, m.whole_word_masking)
    held_out = {"domain_validation": blocks_from_documents(tokenizer, val_docs, length, m.packing,
                                                           m.whole_word_masking)}
    if e.general_text:
        from domaintune.data.resources import load_stsb

        stsb = load_stsb("dev")
        sentences = list(dict.fromkeys(stsb.text_a.tolist() + stsb.text_b.tolist()))
        held_out["general_stsb"] = blocks_from_documents(tokenizer, sentences, length, "line_by_line",
                                                         m.whole_word_masking)
    evaluators = [PerplexityEvaluator(name, mask_fixed(tokenizer, rows[:e.max_eval_blocks], m.mlm_probability,
                                                       m.whole_word_masking, seed=1234), collator, e.batch_size)
                  for name, rows in held_out.items()]
    log.info("mlm: %d training documents -> %d blocks of <= %d tokens (%s); %d held-out documents",
             len(train_docs), len(train_rows), length, m.packing, len(val_docs))

    def evaluate() -> dict:
        return {ev.name: ev(model) for ev in evaluators}

    before_file = run_dir / "before.json"
    if before_file.exists():
        before = json.loads(before_file.read_text())
    else:
        t = time.perf_counter()
        before = evaluate()
        timings["evaluate_before"] = round(time.perf_counter() - t, 2)
        atomic_write_json(before_file, before)

    t = recipe.training
    args = TrainingArguments(**training_arguments(t, run_dir / "checkpoints", "eval_loss", False, e.batch_size),
                             remove_unused_columns=False)
    val_rows = evaluators[0].rows
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                      eval_dataset=Dataset.from_list(val_rows), data_collator=collator,
                      callbacks=callbacks(t, run_dir, "eval_loss", show_progress))
    prepare_trainer(trainer)
    resume_from = resume_checkpoint(run_dir / "checkpoints", resume)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    stats = run_statistics(trainer, result, time.perf_counter() - start, resume_from, len(train_rows), t, "eval_loss")
    log_history = stats.pop("log_history")
    timings["train"] = stats["seconds"]
    t0 = time.perf_counter()
    after = evaluate()
    timings["evaluate_after"] = round(time.perf_counter() - t0, 2)

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    metrics = {
        "task": "mlm",
        "before": before,
        "after": after,
        "delta": deltas(before, after),
        "run": {"base_model": recipe.model.name, "data": recipe.data.train, "train_documents": len(train_docs),
                "train_blocks": len(train_rows), "held_out_documents": len(val_docs), "packing": m.packing,
                "whole_word_masking": m.whole_word_masking, "mlm_probability": m.mlm_probability,
                "train_head_only": m.train_head_only, "fresh_mlm_head": fresh_head,
                "parameters": {"trainable": trainable, "total": sum(p.numel() for p in model.parameters())}},
        "note": ("the base model had no pretrained MLM head: 'before' perplexity is that of a fresh, untrained head; "
                 "compare against a head-only run (mlm.train_head_only) to see what the encoder gained")
        if fresh_head else None,
        "training": stats,
        "timings": timings,
        "versions": package_versions(),
        "recipe_hash": recipe.hash(),
    }

    def write_model(folder: Path) -> None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
        atomic_write_text(folder / "README.md", mlm_model_card(metrics, recipe_to_yaml(recipe, comments=False)))

    save_folder_atomically(run_dir / "model", write_model)
    timings["total"] = round(time.perf_counter() - t_all, 2)
    atomic_write_json(run_dir / "log_history.json", log_history)
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_report(run_dir, metrics, log_history)
    return metrics


def mlm_model_card(metrics: dict, recipe_yaml: str) -> str:
    info = metrics["run"]
    rows = "\n".join(f"| {ev} | {metrics['before'][ev]['perplexity']:.2f} | {metrics['after'][ev]['perplexity']:.2f} |"
                     for ev in metrics["after"])
    note = f"\n**Note:** {metrics['note']}.\n" if metrics.get("note") else ""
    words = ", whole words" if info["whole_word_masking"] else ""
    return f"""---
library_name: transformers
tags: [fill-mask, domaintune, domain-adaptation]
base_model: {info['base_model']}
---
# Domain-adapted encoder with an MLM head (domaintune)

Continued masked-language-model pretraining of `{info['base_model']}` on {info['train_documents']} documents of
`{info['data']}` ({info['packing']} blocks, {info['mlm_probability']:.0%} masked{words}).
A standard transformers folder: `AutoModelForMaskedLM.from_pretrained(path)`, or use it as the `model.name` of
any domaintune task.
{note}
| held-out text | perplexity before | after |
|---|---|---|
{rows}

## Recipe

```yaml
{recipe_yaml}```
"""


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    run_dir = Path(run_dir)
    log_history = load_log_history(run_dir, log_history)
    made = {}
    if log_history and plots.learning_curves(log_history, "eval_loss", run_dir / "plots" / "learning_curves.png"):
        made["Learning curves"] = "plots/learning_curves.png"
    return {"markdown": write_markdown(run_dir, metrics, made), "html": write_html(run_dir, metrics, made)}
