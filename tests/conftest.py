from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
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


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    """A command run in-process (typer's CliRunner) configures structlog to print to the stderr it
    swapped in, and closes that stream when the command ends: every later log line in the session then
    failed with "I/O operation on closed file" (seen when tests/scout_cli ran before a run_flow test)."""
    yield
    structlog.reset_defaults()


# Property tests: a fixed example budget and a fixed seed (derandomize), no example database,
# so `make test` is repeatable and bounded in time.
settings.register_profile("scout", max_examples=300, derandomize=True, database=None, deadline=None)
settings.load_profile("scout")
