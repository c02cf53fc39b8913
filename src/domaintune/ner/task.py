"""Named-entity recognition, top to bottom: sentences (CoNLL or JSONL spans, normalised to IOB2) -> windows
of sub-tokens (first sub-token labelled) -> train (full or an adapter) -> entity-level precision / recall /
F1 (seqeval), overall and per type -> save -> report.

There is no "before" column: an untrained token-classification head predicts noise, so the report shows the
trained model's figures only.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from domaintune.adapters import base_record, wrap_adapter
from domaintune.classification.report import write_report  # the same report: tables, per type, learning curves
from domaintune.core.contract import metrics_envelope
from domaintune.core.evaluator import run_evaluators
from domaintune.core.report import model_card
from domaintune.core.run import Run
from domaintune.core.trainer import fit
from domaintune.errors import DomaintuneError
from domaintune.ner.data import first_unseen, normalise, read_ner
from domaintune.ner.evaluation import NEREvaluator
from domaintune.ner.predict import predict_file  # noqa: F401 (the task's `domaintune predict`)
from domaintune.ner.recipe import NERRecipe
from domaintune.ner.tagger import Tagger, encode_windows, load_tagger, tag_config

log = logging.getLogger("domaintune")


def load_data(recipe: NERRecipe):
    d = recipe.data
    if d.train is None:
        raise DomaintuneError("recipe: set data.train (a CoNLL file or a JSONL file with spans)")
    read = lambda p: read_ner(p, d.format, d.strip_language_prefix)  # noqa: E731
    train = read(d.train)
    scheme = normalise(train, d.scheme, d.train)
    if d.validation:
        val = read(d.validation)
        normalise(val, d.scheme, d.validation)
    else:
        order = list(range(len(train)))
        random.Random(d.split_seed).shuffle(order)
        n_val = max(1, round(len(train) * d.validation_fraction))
        val, train = [train[i] for i in sorted(order[:n_val])], [train[i] for i in sorted(order[n_val:])]
    test = None
    if d.test:
        test = read(d.test)
        normalise(test, d.scheme, d.test)
    if d.max_train_sentences and len(train) > d.max_train_sentences:
        train = random.Random(d.split_seed).sample(train, d.max_train_sentences)
    if d.max_validation_sentences and len(val) > d.max_validation_sentences:
        val = random.Random(d.split_seed).sample(val, d.max_validation_sentences)
    types = sorted({t[2:] for s in train for t in s.tags if t != "O"})
    if not types:
        raise DomaintuneError(f"{d.train}: no entity tags found (every tag is O)")
    tags = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    for name, part, path in (("validation", val, d.validation or d.train), ("test", test or [], d.test)):
        if (unseen := first_unseen(part, tags)) is not None:
            raise DomaintuneError(f"{path}: line {unseen[0]}: tag {unseen[1]!r} ({name} data) is of an entity type "
                                  f"never seen in the training data ({d.train}); types there: {', '.join(types)}")
    return train, val, test, tags, scheme


def build_model(recipe: NERRecipe, tags: list[str]):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from domaintune.models import encoder_folder

    enc = encoder_folder(recipe.model.name)
    model = AutoModelForTokenClassification.from_pretrained(str(enc), **tag_config(tags))
    tokenizer = AutoTokenizer.from_pretrained(str(enc))
    if recipe.strategy == "full":
        return model, tokenizer, {}
    model = wrap_adapter(model, recipe.strategy, recipe.adapter, "TOKEN_CLS", ("classifier",))
    return model, tokenizer, base_record(recipe.model.name)


def run(recipe: NERRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    run = Run(recipe, resume, overwrite)
    with run.timed("data"):
        train, val, test, tags, scheme = load_data(recipe)
    model, tokenizer, base = build_model(recipe, tags)
    run.start()
    length = recipe.model.max_seq_length
    train_ds, n_windows = window_dataset(tokenizer, train, tags, length)
    val_ds, _ = window_dataset(tokenizer, val, tags, length)
    evaluators = [NEREvaluator(name, part, tags, recipe.evaluation.batch_size)
                  for name, part in (("validation", val), ("test", test)) if part]
    log.info("ner: %d training sentences (%d windows of <= %d tokens), %d validation, %s test; scheme %s -> IOB2; "
             "types %s", len(train), n_windows, length, len(val), len(test) if test else 0, scheme,
             ", ".join(t[2:] for t in tags[1::2]))

    t = recipe.training if recipe.strategy == "full" else recipe.adapter.training(recipe.training)
    metric_key, greater = ("eval_f1", True) if t.validation_metric == "f1" else ("eval_loss", False)
    extra = {"train_sampling_strategy": "group_by_length" if t.group_by_length else "random",
             "length_column_name": "length"}
    trainer, stats = fit(Trainer, TrainingArguments, t, run.dir, metric_key, greater, recipe.evaluation.batch_size,
                         n_windows, resume, show_progress, extra, model=model, train_dataset=train_ds,
                         eval_dataset=val_ds, data_collator=DataCollatorForTokenClassification(tokenizer),
                         processing_class=tokenizer, compute_metrics=evaluators[0].compute_metrics,
                         compute_loss_func=token_loss)
    log_history = stats.pop("log_history")
    run.timings["train"] = stats["seconds"]
    if (done := run.rank_done(stats)) is not None:  # several processes: rank 0 evaluates and writes
        return done

    # there is no "before": an untrained token-classification head predicts noise
    tagger = Tagger(trainer.model.eval(), tokenizer, tags, length, recipe.strategy, base)
    with run.timed("evaluate_after"):
        after, details = run_evaluators(tagger, evaluators, "after")
    params = {"trainable": sum(p.numel() for p in tagger.model.parameters() if p.requires_grad),
              "total": sum(p.numel() for p in tagger.model.parameters())}
    metrics = metrics_envelope(
        "ner", {}, after, evaluators, training=stats, tags=tags,
        per_class={"after": {k: v["per_class"] for k, v in details.items()}},
        run={"base_model": recipe.model.name, "strategy": recipe.strategy, "data": recipe.data.train,
             "scheme": scheme, "train_sentences": len(train), "train_windows": n_windows,
             "validation_sentences": len(val), "test_sentences": len(test) if test else 0,
             "max_seq_length": length, "parameters": params},
    )
    return run.finish(metrics, tagger.save, lambda mt: card(mt, recipe), write_report, log_history)


def token_loss(outputs, labels, num_items_in_batch=None):
    """Cross-entropy summed over the labelled tokens, divided by the labelled tokens of the whole optimiser step
    (every process, every accumulated batch; the Trainer counts them). transformers' BERT token head takes the mean
    of its own batch instead, which under several processes the Trainer then also multiplies by their number."""
    import torch.nn.functional as F

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[1]
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100,
                            reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (labels != -100).sum()
    return total / count


def window_dataset(tokenizer, sentences, tags: list[str], length: int):
    """Training rows: windows of whole words with the first sub-token of each word labelled."""
    from datasets import Dataset

    index = {t: i for i, t in enumerate(tags)}
    out = encode_windows(tokenizer, [s.words for s in sentences], length, [[index[t] for t in s.tags]
                                                                           for s in sentences])
    return Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"], "length": len(r["input_ids"])}
                              for r in out]), len(out)


def card(metrics: dict, recipe: NERRecipe) -> str:
    info = metrics["run"]
    how = ("full fine-tuning (a standard transformers AutoModelForTokenClassification folder)"
           if info["strategy"] == "full" else f"a {info['strategy']} adapter (PEFT) with the tagging head inside it")
    types = ", ".join(t[2:] for t in metrics["tags"][1::2])
    return model_card(
        metrics, recipe, "Named-entity tagger (domaintune)",
        f"Trained from `{info['base_model']}` by {how}, on {info['train_sentences']} sentences of `{info['data']}` "
        f"(tags normalised to IOB2 from {info['scheme']}). Entity types: {types}.",
        "Predict entity spans with character offsets: `domaintune predict THIS_FOLDER --input FILE` (JSONL), or "
        "`from domaintune import registry; registry.load_model(path).predict(texts)`.\n",
        "transformers" if info["strategy"] == "full" else "domaintune", ["token-classification", "ner", "domaintune"],
        before_means="none: an untrained tagging head predicts noise",
        notes="Entity-level precision, recall and F1 by seqeval (exact span and type).\n")


def load(path: str | Path):
    return load_tagger(path)


def parity_evaluators(recipe, run_dir: Path | None, predictor) -> list:
    """What an export of a tagger is checked on (deploy/parity.py): the run's test file; none without one."""
    d = getattr(recipe, "data", None)
    if not isinstance(recipe, NERRecipe) or not d.test:
        return []
    test = read_ner(d.test, d.format, d.strip_language_prefix)
    normalise(test, d.scheme, d.test)
    return [NEREvaluator("test", test, predictor.tags)]
