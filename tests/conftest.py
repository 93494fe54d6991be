from __future__ import annotations

import pytest
from hypothesis import settings

from dataflows.bronze.rules import RuleSet, load_rules
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon, load_lexicon

#: Real parts for the edge tests (speech, photos, models, a broker)
pytest_plugins = ["tests.edge_fixtures"]


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.fixture
def windows() -> WindowConfig:
    return WindowConfig()


# Property tests: a fixed example budget and a fixed seed (derandomize), no example database,
# so `make test` is repeatable and bounded in time.
settings.register_profile("scout", max_examples=300, derandomize=True, database=None, deadline=None)
settings.load_profile("scout")
