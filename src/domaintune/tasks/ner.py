"""Named-entity recognition, top to bottom: sentences (CoNLL or JSONL spans, normalised to IOB2) -> windows
of sub-tokens (first sub-token labelled) -> train (full or an adapter) -> entity-level precision / recall /
F1 (seqeval), overall and per type -> save -> report.

There is no "before" column: an untrained token-classification head predicts noise, so the report shows the
trained model's figures only.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

from domaintune.classifier.sequence import ADAPTERS, wrap_adapter
from domaintune.classifier.tagger import Tagger, encode_windows, entity_metrics, tag_config, words_accuracy
from domaintune.data.ner import normalise, read_ner
from domaintune.errors import DomaintuneError
from domaintune.recipe import NERRecipe, save_recipe
from domaintune.tasks.classification import write_report  # the same report: tables, per type, learning curves
from domaintune.tasks.rundir import prepare_run_dir
from domaintune.training.common import callbacks, prepare_trainer, resume_checkpoint, run_statistics, training_arguments
from domaintune.utils import atomic_write_json, package_versions, save_folder_atomically, set_seed

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
    for name, part in (("validation", val), ("test", test or [])):
        unseen = sorted({t for s in part for t in s.tags if t not in tags})
        if unseen:
            raise DomaintuneError(f"{name} data: tag(s) not seen in training: {', '.join(unseen[:5])}")
    return train, val, test, tags, scheme


def build_model(recipe: NERRecipe, tags: list[str]):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from domaintune.classifier.model import base_record
    from domaintune.models import encoder_folder

    if recipe.strategy not in ("full", *ADAPTERS):
        raise DomaintuneError(f"recipe: 'strategy': unknown strategy {recipe.strategy!r}; expected full or one of "
                              f"the adapters {', '.join(ADAPTERS)}")
    enc = encoder_folder(recipe.model.name)
    model = AutoModelForTokenClassification.from_pretrained(str(enc), **tag_config(tags))
    tokenizer = AutoTokenizer.from_pretrained(str(enc))
    if recipe.strategy == "full":
        return model, tokenizer, {}
    model = wrap_adapter(model, recipe.strategy, recipe.adapter, "TOKEN_CLS", ("classifier",))
    return model, tokenizer, base_record(recipe.model.name)


def evaluate(tagger: Tagger, sentences, batch_size: int) -> tuple[dict, dict]:
    pred = tagger.predict_words([s.words for s in sentences], batch_size)
    gold = [s.tags for s in sentences]
    overall, per_type = entity_metrics(gold, pred)
    overall["token_accuracy"] = words_accuracy(gold, pred)
    return overall, per_type


def run(recipe: NERRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    from datasets import Dataset
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    run_dir = prepare_run_dir(recipe, resume, overwrite)
    set_seed(recipe.training.seed)
    train, val, test, tags, scheme = load_data(recipe)
    model, tokenizer, base = build_model(recipe, tags)  # the strategy is checked before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run_dir / "recipe.yaml")
    index = {t: i for i, t in enumerate(tags)}
    length = recipe.model.max_seq_length

    def rows(sentences):
        out = encode_windows(tokenizer, [s.words for s in sentences], length, [[index[t] for t in s.tags]
                                                                               for s in sentences])
        return Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"], "length": len(r["input_ids"])}
                                  for r in out]), len(out)

    train_ds, n_windows = rows(train)
    val_ds, _ = rows(val)
    log.info("ner: %d training sentences (%d windows of <= %d tokens), %d validation, %s test; scheme %s -> IOB2; "
             "types %s", len(train), n_windows, length, len(val), len(test) if test else 0, scheme,
             ", ".join(t[2:] for t in tags[1::2]))

    def compute_metrics(pred):
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        best, gold, guess = logits.argmax(-1), [], []
        for p_row, l_row in zip(best, pred.label_ids, strict=True):
            keep = l_row != -100
            gold.append([tags[i] for i in l_row[keep]])
            guess.append([tags[i] for i in p_row[keep]])
        return entity_metrics(gold, guess)[0]

    t = recipe.training
    if recipe.strategy != "full":
        t = recipe.adapter.training(t)
    metric_key, greater = ("eval_f1", True) if t.validation_metric == "f1" else ("eval_loss", False)
    args = TrainingArguments(**training_arguments(t, run_dir / "checkpoints", metric_key, greater,
                                                  recipe.evaluation.batch_size),
                             train_sampling_strategy="group_by_length" if t.group_by_length else "random",
                             length_column_name="length")
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                      data_collator=DataCollatorForTokenClassification(tokenizer), processing_class=tokenizer,
                      compute_metrics=compute_metrics, callbacks=callbacks(t, run_dir, metric_key, show_progress))
    prepare_trainer(trainer)
    resume_from = resume_checkpoint(run_dir / "checkpoints", resume)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    stats = run_statistics(trainer, result, time.perf_counter() - start, resume_from, n_windows, t, metric_key)
    log_history = stats.pop("log_history")
    timings["train"] = stats["seconds"]

    tagger = Tagger(trainer.model.eval(), tokenizer, tags, length, recipe.strategy, base)
    t0 = time.perf_counter()
    after, per_type = {}, {}
    for name, part in (("validation", val), ("test", test)):
        if part:
            after[name], per_type[name] = evaluate(tagger, part, recipe.evaluation.batch_size)
            log.info("%s: entity F1 %.4f (precision %.4f, recall %.4f)", name, after[name]["f1"],
                     after[name]["precision"], after[name]["recall"])
    timings["evaluate_after"] = round(time.perf_counter() - t0, 2)
    save_folder_atomically(run_dir / "model", tagger.save)
    params = {"trainable": sum(p.numel() for p in tagger.model.parameters() if p.requires_grad),
              "total": sum(p.numel() for p in tagger.model.parameters())}
    metrics = {
        "task": "ner", "before": {}, "after": after, "delta": {}, "tags": tags,
        "per_class": {"after": per_type},
        "run": {"base_model": recipe.model.name, "strategy": recipe.strategy, "data": recipe.data.train,
                "scheme": scheme, "train_sentences": len(train), "train_windows": n_windows,
                "validation_sentences": len(val), "test_sentences": len(test) if test else 0,
                "max_seq_length": length, "parameters": params},
        "training": stats, "timings": {**timings, "total": round(time.perf_counter() - t_all, 2)},
        "versions": package_versions(), "recipe_hash": recipe.hash(),
    }
    atomic_write_json(run_dir / "log_history.json", log_history)
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_report(run_dir, metrics, log_history)
    return metrics


def predict_file(model: str | Path, input: str | Path, output: str | Path | None = None, column: str = "text",
                 batch_size: int = 64) -> list[dict]:
    """Entity spans with character offsets, one record per input row (JSONL)."""
    from domaintune.classifier.predict import read_rows
    from domaintune.classifier.tagger import load_tagger

    if output is not None and Path(output).exists():
        raise DomaintuneError(f"{output}: exists; predictions never replace a file (choose another --output)")
    tagger = load_tagger(model)
    texts, status = read_rows(Path(input), column)
    ok = [i for i, (tx, s) in enumerate(zip(texts, status, strict=True)) if s == "ok" and tx.strip()]
    spans = dict(zip(ok, tagger.predict_spans([texts[i] for i in ok], batch_size), strict=True))
    records = [{"row": i + 1, "text": tx, "status": "ok" if i in spans else (s if s != "ok" else "empty"),
                "entities": spans.get(i, [])} for i, (tx, s) in enumerate(zip(texts, status, strict=True))]
    if output is not None:
        from domaintune.utils import atomic_write_text

        atomic_write_text(Path(output), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records
