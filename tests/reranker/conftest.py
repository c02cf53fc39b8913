"""The retrieval tests' generated BEIR set (tests/retrieval/conftest.py), for the reranker's judgments."""

from tests.retrieval.conftest import beir  # noqa: F401
