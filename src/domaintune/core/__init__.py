"""The shared core: recipe base and loader, run template and run-folder rules, trainer set-up, evaluator contract,
report renderer and model card, atomic I/O, table readers and shipped resources."""
