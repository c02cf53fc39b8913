"""Load any saved classifier folder (frozen, full, adapters, few-shot) by the strategy its
domaintune_classifier.json names: each strategy's class loads its own weights."""

from __future__ import annotations

import json
from pathlib import Path

from domaintune.classification.fewshot import FewShotClassifier
from domaintune.classification.frozen import FrozenClassifier
from domaintune.classification.model import META, Classifier
from domaintune.classification.sequence import SequenceClassifier
from domaintune.errors import DomaintuneError

KINDS: dict[str, type[Classifier]] = {"frozen": FrozenClassifier, "fewshot": FewShotClassifier}  # else: sequence


def load_classifier(folder: str | Path) -> Classifier:
    folder = Path(folder)
    meta_path = folder / META
    if not meta_path.exists():
        raise DomaintuneError(f"{folder}: not a domaintune classifier folder (no {META}); for a run folder, "
                              "pass RUN/model")
    meta = json.loads(meta_path.read_text())
    return KINDS.get(meta["strategy"], SequenceClassifier).load(folder, meta)
