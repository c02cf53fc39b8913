"""Task `classification`: single- or multi-label text classification, strategies frozen / full / adapters
(recipe, data, augmentation, features, heads, classifiers, trainer, evaluation, compare, predict, task)."""
