"""The Python API: one function per CLI command (same names, same arguments); the CLI adds printing only."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from domaintune import registry
from domaintune.core.io import atomic_write_text
from domaintune.core.recipe import RecipeBase, recipe_to_yaml
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe

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
             overrides: list[str] | None = None, output: str | Path | None = None, overwrite: bool = False) -> dict:
    """Evaluate a model as the 'before' column of a run would: STSb, optional domain pairs and retrieval of
    held-out taxonomy concepts; the results also as JSON in `output`."""
    from domaintune.similarity.evaluation import evaluate_encoder

    check_new_file(output, overwrite)
    recipe = load_recipe(None, [f"model.name={model}", f"evaluation.stsb={str(stsb).lower()}", *(overrides or [])])
    m = embedding_model(recipe.model.name, recipe.model.max_seq_length, recipe.model.pooling, recipe.model.prefix)
    results = evaluate_encoder(m, recipe, pairs, taxonomy)
    write_json(output, results)
    return results


def evaluate_retrieval(model: str, retrieval: str | Path, split: str = "test", query_prompt: str | None = None,
                       document_prompt: str | None = None, max_length: int | None = None,
                       output: str | Path | None = None, overwrite: bool = False,
                       on_bad_rows: str = "error", queries: str | Path | None = None,
                       compare: list[str] | tuple = (), rerank: list[str] | tuple = (),
                       rerank_top_k: int = 100) -> dict:
    """Search on your own judged data (a BEIR folder): {system: {nDCG@10, MAP@100, MRR@10, Recall@10, Recall@100,
    seconds}} for BM25, the model, and their reciprocal-rank hybrid; also as JSON in `output`. `queries`: another
    queries file with the same ids (e.g. the same questions in another language: cross-lingual search). `compare`:
    more models in the same table, each with its hybrid (e.g. the base model of a tuned one). `rerank`:
    cross-encoders that rerank the top `rerank_top_k` of BM25 and of each model, one row each."""
    from domaintune.models import load_cross_encoder
    from domaintune.retrieval.data import load_retrieval
    from domaintune.retrieval.evaluation import compare_systems

    check_new_file(output, overwrite)
    data = load_retrieval(retrieval, queries=queries, on_bad_rows=on_bad_rows)
    data.split(split)  # an unknown split is refused before the model is loaded
    for path, n in data.skipped.items():
        log.warning("%s: %d bad row(s) skipped (on_bad_rows: skip)", path, n)
    models = {name: embedding_model(name, max_length) for name in dict.fromkeys([*compare, model])}
    rerankers = {name: load_cross_encoder(name, max_length) for name in dict.fromkeys(rerank)}
    table = compare_systems(data, split, models, query_prompt=query_prompt, document_prompt=document_prompt,
                            rerankers=rerankers, rerank_top_k=rerank_top_k)
    write_json(output, {"split": split, "queries": len(data.split(split)), "documents": len(data.corpus),
                        "skipped_rows": data.skipped, "systems": table})
    return table


def check_new_file(path: str | Path | None, overwrite: bool) -> None:
    if path is not None and Path(path).exists() and not overwrite:
        raise DomaintuneError(f"{path}: exists; pass --overwrite to replace it, or choose another --output")


def write_json(path: str | Path | None, data) -> None:
    if path is not None:
        from domaintune.core.io import atomic_write_json

        atomic_write_json(Path(path), data)


def embedding_model(model: str, max_seq_length: int | None = None, pooling: str = "mean",
                    prefix: str | None = None):
    """An encoder with sentence-transformers' `encode`: a name or folder through sentence-transformers, an exported
    folder (`domaintune export`) through onnxruntime / OpenVINO without torch."""
    from domaintune.core.contract import OutputKind
    from domaintune.deploy.runtime import is_export
    from domaintune.embedding.static import is_static

    if is_export(model) or is_static(model):  # no torch: the exported graph, or the static model's own table
        exported = registry.load_model(model)
        if exported.output_kind is not OutputKind.EMBEDDINGS:
            raise DomaintuneError(f"{model}: an exported {exported.metadata['task']} model gives "
                                  f"{exported.output_kind.value}, not embeddings (use `domaintune predict`)")
        return exported
    from domaintune.models import load_sentence_model

    return load_sentence_model(model, max_seq_length, pooling, prefix=prefix)


def rerank(model: str, query: str, texts: list[str] | None = None, input: str | Path | None = None,
           column: str = "text", top: int | None = None, max_length: int | None = None) -> list[dict]:
    """The texts (or those of `input`: .txt, one per line, or a table's column) ranked for `query` by a
    cross-encoder (a model folder, hub id or export): [{"index": position in the input, "score", "text"}], best
    first, the first `top` of them."""
    from domaintune.deploy.runtime import is_export
    from domaintune.models import load_cross_encoder

    if texts is None:
        texts = read_texts(input, column)
    if not query.strip():
        raise DomaintuneError("rerank: the query is empty")
    if not texts:
        raise DomaintuneError(f"{input or 'rerank'}: no candidate texts")
    pairs = [(query, t) for t in texts]
    if is_export(model):  # an exported reranker: its predictor (raw scores, no torch), through its activation
        exported = registry.load_model(model)
        scores = exported.predict(pairs)
        if exported.served_info().get("activation") == "sigmoid":
            scores = 1 / (1 + np.exp(-scores))
    else:
        scores = load_cross_encoder(model, max_length).predict(pairs, show_progress_bar=False)
    order = sorted(range(len(texts)), key=lambda i: (-float(scores[i]), i))[:top]
    return [{"index": i, "score": round(float(scores[i]), 6), "text": texts[i]} for i in order]


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
          output: str | Path | None = None, batch_size: int = 64, overwrite: bool = False,
          dimensions: int | None = None) -> np.ndarray:
    """Embed texts (normalised, as the model's own pipeline does), cut to `dimensions` and renormalised when the
    model was trained for it (Matryoshka; refused otherwise). Optionally write .npy/.jsonl/.parquet; an existing
    output file is replaced only with `overwrite`."""
    from domaintune.core.dimensions import check_dimensions, cut_embeddings
    from domaintune.embedding.matryoshka import read_dims

    if output is not None and Path(output).exists() and not overwrite:
        raise DomaintuneError(f"{output}: exists; pass --overwrite to replace it, or choose another --output")
    if texts is None:
        if input is None:
            raise DomaintuneError("embed: give texts or an input file")
        texts = read_texts(input, column)
    m = embedding_model(model)
    trained = getattr(m, "matryoshka_dims", None)
    dims = check_dimensions(dimensions, m.get_embedding_dimension(), read_dims(model) if trained is None else trained,
                            str(model))
    emb = m.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    emb = emb if dims is None else cut_embeddings(emb, dims)
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


def sections(metrics: dict) -> list[tuple[str, dict]]:
    """The before/after tables of a run's metrics, titled (a pipeline has one per stage)."""
    kind = metrics.get("task", "similarity")
    if kind in registry.OTHER_REPORTS:
        return []
    return [(title or "before / after", part) for title, part in registry.get(kind).impl().sections(metrics)]


def demo_recipe(output: str | None = None, overrides: list[str] | None = None, multilingual: bool = False):
    """The job-title demo's recipe (similarity/demo.py)."""
    from domaintune.similarity import demo as settings

    return settings.demo_recipe(output, overrides, multilingual)


def demo(output: str | None = None, overrides: list[str] | None = None, resume: bool = False,
         overwrite: bool = False, show_progress: bool = True, multilingual: bool = False) -> dict:
    return train(demo_recipe(output, overrides, multilingual), resume=resume, overwrite=overwrite,
                 show_progress=show_progress)


def predictions_path(model: str | Path, input: str | Path) -> Path:
    """Where `predict` writes by default: INPUT.predictions + the task's suffix (.csv, NER: .jsonl)."""
    module = registry.model_task(model).predictions_impl()
    suffix = module.PREDICTIONS_SUFFIX if module is not None else ".csv"
    return Path(input).with_name(Path(input).name + ".predictions" + suffix)


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
    if output is not None and Path(output).exists():
        raise DomaintuneError(f"{output}: exists; predictions never replace a file (choose another --output)")
    return module.predict_file(registry.load_model(model), input, output, column, batch_size)


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


def compare_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """The columns and formatted rows of a `compare` result, one row per strategy."""
    from domaintune.classification.compare import COLUMNS, cell

    return list(COLUMNS), [[cell(result["rows"][s][c], c) for c in COLUMNS] for s in result["strategies"]]


def merge_adapter(model: str | Path, output: str | Path) -> Path:
    """Merge a LoRA-style adapter into its encoder: a standard transformers classifier folder."""
    from domaintune.classification.predict import merge_adapter as merge

    return merge(Path(model), Path(output))


def export(model: str | Path, output: str | Path, format: str = "openvino", quantize: str = "int8",
           tolerance: float = 0.5, force: bool = False, overwrite: bool = False,
           parity_texts: int | None = None, min_cosine: float = 0.95) -> dict:
    """Export a saved model to ONNX or OpenVINO (int8 by default), checked against the torch model on the task's
    own evaluators (given the run folder's recipe) and the predictor's agreement measure."""
    from domaintune.deploy.export import check_request, export_model

    model, output = Path(model), Path(output)
    check_request(model, output, format, quantize, overwrite)
    task = registry.model_task(model)
    predictor = task.impl().load(model)
    run_dir, recipe = run_recipe_of(model)
    evaluators = task.impl().parity_evaluators(recipe, run_dir, predictor)
    data = ("the run's own evaluation data" if recipe is not None else "no run folder beside the model: STS benchmark "
            "test only (embeddings) or agreement only")
    return export_model(predictor, model, task.name, output, format, quantize, tolerance, force, evaluators, data,
                        parity_texts, min_cosine)


def run_recipe_of(model: Path) -> tuple[Path, RecipeBase | None]:
    """(the folder around a saved model, the recipe of its run when it is RUN/model): the run's recipe names the
    evaluation data an export or a distilled model is checked on."""
    from domaintune.core.rundir import saved_recipe

    run_dir = Path(model).resolve().parent
    if not (run_dir / "recipe.yaml").exists():
        return run_dir, None
    return run_dir, saved_recipe(run_dir, type(load_recipe(run_dir / "recipe.yaml")))


def distill(model: str | Path, output: str | Path, vocabulary_from: str | Path | None = None, column: str = "text",
            pca_dims: int | None = 256, overwrite: bool = False, min_count: int = 2) -> dict:
    """A static embedding model (model2vec) distilled from a tuned embedding model, with the words of the user's
    domain text (`vocabulary_from`) in its vocabulary; checked beside the model on the run's own evaluators (given
    its run folder) and written into OUTPUT with `distill.json` and a README. Returns the record."""
    from domaintune.core.contract import OutputKind
    from domaintune.core.evaluator import run_evaluators
    from domaintune.core.io import atomic_write_json, atomic_write_text, save_folder_atomically
    from domaintune.embedding.static import StaticEmbedder, distill_card, domain_vocabulary
    from domaintune.embedding.static import distill as distill_into

    model, output = Path(model), Path(output)
    if not model.is_dir():
        raise DomaintuneError(f"{model}: not a model folder (pass a saved embedding model, e.g. runs/demo/model)")
    if output.exists() and not (overwrite and output.is_dir()):
        raise DomaintuneError(f"{output}: exists; pass --overwrite to replace it (a folder), or choose another -o")
    task = registry.model_task(model)
    predictor = task.impl().load(model)
    if predictor.output_kind is not OutputKind.EMBEDDINGS:
        raise DomaintuneError(f"{model}: a {task.name} model; distill takes an embedding model")
    if pca_dims is not None and not 1 <= pca_dims <= predictor.dimension:
        raise DomaintuneError(f"--pca-dims: {pca_dims} is outside 1-{predictor.dimension} (the model's dimension)")
    texts = read_texts(vocabulary_from, column) if vocabulary_from is not None else []
    words = domain_vocabulary(texts, predictor.tokenizer, min_count) if texts else []
    run_dir, recipe = run_recipe_of(model)
    evaluators = task.impl().parity_evaluators(recipe, run_dir, predictor)
    record: dict = {}

    def write_into(folder: Path) -> None:
        t = time.perf_counter()
        record.update(distill_into(predictor.model, model, folder, pca_dims, words))
        record["distill_seconds"] = round(time.perf_counter() - t, 1)
        record["vocabulary_from"] = str(vocabulary_from) if vocabulary_from is not None else None
        tuned, _ = run_evaluators(predictor, evaluators, "tuned model")
        static, _ = run_evaluators(StaticEmbedder(folder), evaluators, "static model")
        record["evaluation"] = {ev.name: compared(ev.primary_metric, tuned[ev.name], static[ev.name])
                                for ev in evaluators}
        record["data"] = "the run's own evaluation data" if recipe is not None else "STS benchmark test only"
        atomic_write_json(folder / "distill.json", record)
        atomic_write_text(folder / "README.md", distill_card(record))

    save_folder_atomically(output, write_into)
    return record


def compared(metric: str, model: dict, static: dict) -> dict:
    a, b = model[metric], static[metric]
    return {"metric": metric, "model": round(a, 4), "static": round(b, 4), "retained": round(b / max(a, 1e-12), 4)}


def load_for_serving(path: str, threads: int | None = None):
    """A model folder or export as its predictor (exports with `threads` per graph)."""
    return registry.load_model(path, threads)


def serve(models: list[str], host: str = "127.0.0.1", port: int = 8000, limits=None, api_key: str | None = None,
          threads: int | None = None) -> None:
    """Serve models over HTTP (deploy/server.py) until Ctrl-C."""
    from domaintune.deploy.server import serve as run_server

    run_server(models, load_for_serving, host, port, limits, api_key, threads)


def pairs_from_taxonomy(taxonomy: str, output: str | Path, settings: list[str] | None = None,
                        overwrite: bool = False) -> dict:
    """Graded pairs from a taxonomy into OUTPUT/{train,validation,test}.csv, split by concept."""
    from domaintune.similarity.taxonomy import build_pairs

    output = Path(output)
    recipe = load_recipe(None, [f"data.taxonomy.path={taxonomy}", *(f"data.taxonomy.{s}" for s in settings or [])])
    if (output / "train.csv").exists() and not overwrite:
        raise DomaintuneError(f"{output}: already holds pair files; pass --overwrite to replace them")
    return build_pairs(recipe.data.taxonomy, output)


def labels_from_taxonomy(taxonomy: str, output: str | Path, level: int = 1, alternatives: bool = True) -> dict:
    """A classification file (text, label) from a taxonomy: job title -> its group at `level`."""
    from domaintune.similarity.taxonomy import labelled_titles

    output = Path(output)
    if output.exists():
        raise DomaintuneError(f"{output}: exists; choose another --output")
    return labelled_titles(load_recipe(None, [f"data.taxonomy.path={taxonomy}"]).data.taxonomy, level, output,
                           alternatives)


def mine_negatives(pairs: str | Path, output: str | Path, model: str = "all-MiniLM-L6-v2", text_a: str = "text_a",
                   text_b: str = "text_b", score: str = "score", min_score: float = 0.8,
                   settings: list[str] | None = None, overwrite: bool = False) -> dict:
    """A hard negative for each positive pair, mined with `model` (embeddings cached beside OUTPUT)."""
    from domaintune.core.pairs import read_positive_pairs
    from domaintune.models import load_sentence_model
    from domaintune.similarity import mining

    output = Path(output)
    if output.exists() and not overwrite:
        raise DomaintuneError(f"{output}: exists; choose another --output or pass --overwrite")
    cfg = load_recipe(None, ["training.loss=in_batch_negatives",
                             *(f"training.mining.{s}" for s in settings or [])]).training.mining
    positives = read_positive_pairs(pairs, text_a, text_b, score, min_score)
    mined = mining.mine_negatives(positives, load_sentence_model(model), cfg,
                                  output.parent / f"{output.stem}.embeddings")
    mining.write_triplets(mined, output)
    return {"rows": len(mined), "positives": len(positives)}


def models_list() -> dict:
    """The named offline model sources: {cache, sources: [{name, what, status, install}]}."""
    from domaintune import sources

    rows = []
    for s in sources.SOURCES.values():
        missing = sources.installed(s)
        status = ("prepared" if sources.is_prepared(s.name) else "installed, not prepared" if not missing
                  else "missing " + ", ".join(missing))
        rows.append({"name": s.name, "what": s.description, "status": status, "install": s.pip})
    return {"cache": str(sources.cache_dir()), "sources": rows}


def models_prepare(name: str) -> tuple[Path, bool]:
    """Build a named model folder in the cache; (path, whether it was built now)."""
    from domaintune import sources

    return sources.prepare(name)
