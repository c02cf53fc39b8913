"""core/report.py: one before/after table for markdown, HTML and the terminal; deltas marked by the way each
metric improves; the notes under it."""

from __future__ import annotations

from rich.console import Console

from domaintune.core.report import table_notes, table_rows, terminal_table, write_html, write_markdown

METRICS = {
    "task": "similarity",
    "before": {"stsb_test": {"spearman": 0.80}, "domain": {"perplexity": 10.0}},
    "after": {"stsb_test": {"spearman": 0.82}, "domain": {"perplexity": 12.0}},
    "delta": {"stsb_test": {"spearman": 0.02}, "domain": {"perplexity": 2.0}},
    "directions": {"stsb_test": {"spearman": "higher"}, "domain": {"perplexity": "lower"}},
    "baselines": {"use": {"stsb_test": {"spearman": 0.7}}, "gone": {"skipped": "not installed"}},
    "retention": {"checked": True, "passed": False, "stsb_test_spearman_drop_points": 10.0, "worst": "stsb_test",
                  "drops_points": {"stsb_test": 10.0}, "tolerance_points": 1.0},
}


def test_rows_carry_baselines_and_verdicts_by_direction():
    header, rows = table_rows(METRICS)
    assert header == ["eval", "metric", "use (baseline)", "before", "after", "delta"]
    by_eval = {cells[0]: (cells, way) for cells, way in rows}
    assert by_eval["stsb_test"] == (["stsb_test", "spearman", "0.7000", "0.8000", "0.8200", "+0.0200"], "better")
    assert by_eval["domain"][1] == "worse"  # perplexity went up
    notes = table_notes(METRICS)
    assert ("baseline gone skipped: not installed", False) in notes and notes[-1][1] is True


def test_markdown_html_and_terminal_draw_the_same_cells(tmp_path):
    _, rows = table_rows(METRICS)
    md = write_markdown(tmp_path, METRICS, {}).read_text()
    html = write_html(tmp_path, METRICS, {}).read_text()
    console = Console(record=True, width=200)
    console.print(terminal_table("before / after", METRICS))
    text = console.export_text()
    for cells, _ in rows:
        assert "| " + " | ".join(cells) in md
        for c in cells:
            assert c in html and c in text
    assert "+0.0200 ↑" in md and "+2.0000 ↓" in md and "class='worse'" in html
