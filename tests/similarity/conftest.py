"""The retrieval tests' generated BEIR set, for silver pairs from judgments."""

from tests.retrieval.conftest import beir  # noqa: F401
