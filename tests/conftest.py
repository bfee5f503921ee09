"""Fixtures shared by all test files."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The mirrored real data (../shared/data, or $TLM_SHARED_DATA); skips the test when absent."""
    root = Path(os.environ.get("TLM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}")
    return root
