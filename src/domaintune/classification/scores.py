"""Logits -> probabilities in numpy: shared by the torch classifiers and the exported (onnxruntime / OpenVINO)
ones, so both decide from the same numbers without the exported path importing torch."""

from __future__ import annotations

import numpy as np


def probabilities(logits, multi_label: bool) -> np.ndarray:
    """Sigmoid per class (multi-label) or softmax over classes, as float32."""
    x = np.asarray(logits.detach().cpu().numpy() if hasattr(logits, "detach") else logits, dtype=np.float32)
    if multi_label:
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
