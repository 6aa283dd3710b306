"""Shared test configuration."""

import pytest


@pytest.fixture(autouse=True)
def _private_coefficient_cache(tmp_path, monkeypatch):
    """Keep every test away from the user's real coefficient cache."""
    monkeypatch.setenv("FEYNFLOW_CACHE", str(tmp_path / "coefficients.sqlite"))
