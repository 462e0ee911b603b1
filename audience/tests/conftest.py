import pytest


@pytest.fixture(autouse=True)
def _english(in_english):
    """These tests read messages and pages in their English wording."""
