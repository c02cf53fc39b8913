"""Reports: metrics.json, report.md, a self-contained report.html, PNG plots and the model card."""
