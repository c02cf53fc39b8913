"""The HTML report, opened in a real browser (headless Chromium): it renders, with its tables, its images decoded,
and what changed. CI installs Debian's chromium (.ci/run); elsewhere the test is skipped when no browser is
found, but never under CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const tables = [...document.querySelectorAll('table')];
  const rows = tables.reduce((n, t) => n + t.rows.length, 0);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-check',
    `images=${imgs.length} decoded=${ok} tables=${tables.length} rows=${rows} width=${document.body.scrollWidth} ` +
    `widest=${Math.max(0, ...imgs.map(i => i.naturalWidth))}`);
});
</script>"""


def browser() -> str | None:
    found = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if found is None and os.environ.get("CI"):
        pytest.fail("no chromium on PATH: .ci/run installs Debian's chromium for this test")
    return found


def render(page, tmp_path) -> dict[str, int]:
    exe = browser()
    if exe is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    res = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                          "--window-size=1280,900", "--dump-dom", checked.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'data-check="([^"]*)"', res.stdout)
    assert found, f"the page did not finish loading in chromium: {res.stderr[-2000:]}"
    return {k: int(v) for k, v in (kv.split("=") for kv in found.group(1).split())}


def test_similarity_report_renders_in_chromium(tiny_bert, tiny_taxonomy, tmp_path):
    from domaintune import api

    out = tmp_path / "run"
    api.train(None, [f"model.name={tiny_bert}", "model.max_seq_length=32", f"data.taxonomy.path={tiny_taxonomy}",
                     "training.max_steps=6", "training.eval_steps=3", "training.learning_rate=1e-3",
                     "evaluation.retrieval_max_queries=100", "training.tensorboard=false", f"output.dir={out}"],
                 show_progress=False)
    seen = render(out / "report.html", tmp_path)
    assert seen["images"] == 2 and seen["decoded"] == 2  # heat-maps and learning curves, inlined
    assert seen["tables"] >= 3 and seen["rows"] > 10  # metrics, and the queries that rose and fell
    assert seen["widest"] >= 900  # heat-maps drawn large enough to read their numbers
    text = (out / "report.html").read_text()
    assert "Queries whose answer rose most" in text and "Queries whose answer fell most" in text


def test_classification_report_shows_the_most_confident_mistakes(tiny_bert, job_title_classes, tmp_path):
    from domaintune import api

    out = tmp_path / "run"
    api.train(None, ["task=classification", "strategy=frozen", f"model.name={tiny_bert}",
                     f"data.train={job_title_classes / 'train.csv'}", f"data.test={job_title_classes / 'test.csv'}",
                     f"frozen.cache_dir={tmp_path / 'cache'}", f"output.dir={out}"], show_progress=False)
    seen = render(out / "report.html", tmp_path)
    assert seen["images"] >= 1 and seen["decoded"] == seen["images"]  # the confusion matrices
    assert "Most confident mistakes" in (out / "report.html").read_text()
