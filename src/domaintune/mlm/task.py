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

import logging
import random
from pathlib import Path

from domaintune.core.contract import metrics_envelope
from domaintune.core.evaluator import run_evaluators
from domaintune.core.report import model_card, write_run_report
from domaintune.core.resources import load_stsb
from domaintune.core.run import Run
from domaintune.core.trainer import fit
from domaintune.errors import DomaintuneError
from domaintune.mlm.data import read_documents
from domaintune.mlm.evaluation import PerplexityEvaluator
from domaintune.mlm.masking import MaskingCollator, blocks_from_documents, mask_fixed
from domaintune.mlm.recipe import MLMRecipe

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

    run = Run(recipe, resume, overwrite)
    train_docs, val_docs = run.read_data(lambda: load_documents(recipe))
    run.start()

    model, tokenizer, fresh_head = load_mlm_model(recipe.model.name)
    if recipe.mlm.train_head_only:
        freeze_encoder(model)
    m, e = recipe.mlm, recipe.evaluation
    train_rows = blocks_from_documents(tokenizer, train_docs, recipe.model.max_seq_length, m.packing,
                                       m.whole_word_masking)
    collator = MaskingCollator(tokenizer, m.mlm_probability, m.whole_word_masking)
    evaluators = perplexity_evaluators(recipe, tokenizer, val_docs, collator)
    log.info("mlm: %d training documents -> %d blocks of <= %d tokens (%s); %d held-out documents",
             len(train_docs), len(train_rows), recipe.model.max_seq_length, m.packing, len(val_docs))

    before = run.before(lambda: {"metrics": run_evaluators(model, evaluators, "before")[0]})["metrics"]

    # the held-out domain blocks (fixed masks) are also the validation set that picks the best checkpoint
    trainer, stats = fit(Trainer, TrainingArguments, recipe.training, run.dir, "eval_loss", False, e.batch_size,
                         len(train_rows), resume, show_progress, {"remove_unused_columns": False}, model=model,
                         train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(evaluators[0].rows), data_collator=collator)
    log_history = stats.pop("log_history")
    run.timings["train"] = stats["seconds"]
    if (done := run.rank_done(stats)) is not None:  # several processes: rank 0 evaluates and writes
        return done
    with run.timed("evaluate_after"):
        after = run_evaluators(model, evaluators, "after")[0]

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    metrics = metrics_envelope(
        "mlm", before, after, evaluators, training=stats,
        run={"base_model": recipe.model.name, "data": recipe.data.train, "train_documents": len(train_docs),
             "train_blocks": len(train_rows), "held_out_documents": len(val_docs), "packing": m.packing,
             "whole_word_masking": m.whole_word_masking, "mlm_probability": m.mlm_probability,
             "train_head_only": m.train_head_only, "fresh_mlm_head": fresh_head,
             "parameters": {"trainable": trainable, "total": sum(p.numel() for p in model.parameters())}},
        note=("the base model had no pretrained MLM head: 'before' perplexity is that of a fresh, untrained head; "
              "compare against a head-only run (mlm.train_head_only) to see what the encoder gained")
        if fresh_head else None)

    def write_model(folder: Path) -> None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    return run.finish(metrics, write_model, lambda mt: card(mt, recipe), write_report, log_history)


def perplexity_evaluators(recipe: MLMRecipe, tokenizer, val_docs: list[str], collator) -> list[PerplexityEvaluator]:
    """Held-out domain text, and (evaluation.general_text) general English: STSb dev sentences; masks fixed once."""
    m, e, length = recipe.mlm, recipe.evaluation, recipe.model.max_seq_length
    held_out = {"domain_validation": blocks_from_documents(tokenizer, val_docs, length, m.packing,
                                                           m.whole_word_masking)}
    if e.general_text:
        stsb = load_stsb("dev")
        sentences = list(dict.fromkeys(stsb.text_a.tolist() + stsb.text_b.tolist()))
        held_out["general_stsb"] = blocks_from_documents(tokenizer, sentences, length, "line_by_line",
                                                         m.whole_word_masking)
    return [PerplexityEvaluator(name, mask_fixed(tokenizer, rows[:e.max_eval_blocks], m.mlm_probability,
                                                 m.whole_word_masking, seed=1234), collator, e.batch_size)
            for name, rows in held_out.items()]


def card(metrics: dict, recipe: MLMRecipe) -> str:
    info = metrics["run"]
    words = ", whole words" if info["whole_word_masking"] else ""
    note = f"\n**Note:** {metrics['note']}.\n" if metrics.get("note") else ""
    return model_card(
        metrics, recipe, "Domain-adapted encoder with an MLM head (domaintune)",
        f"Continued masked-language-model pretraining of `{info['base_model']}` on {info['train_documents']} "
        f"documents of `{info['data']}` ({info['packing']} blocks, {info['mlm_probability']:.0%} masked{words}).",
        "A standard transformers folder: `AutoModelForMaskedLM.from_pretrained(path)`, or use it as the `model.name` "
        "of any domaintune task.\n", "transformers", ["fill-mask", "domaintune", "domain-adaptation"], notes=note)


def load(path: str | Path):
    """An MLM run's model as an embedder (mean pooling over its encoder), like any encoder folder."""
    from domaintune.embedding.predictor import Embedder

    return Embedder(path)


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    return write_run_report(run_dir, metrics, log_history)
