from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with end-to-end runs first, the chaos test's file first of all (each file's tests together and in
    their order): ``make test`` runs the tests on two workers, a file at a time each, in this order (pytest-xdist,
    ``--dist loadfile --no-loadscope-reorder``; its default order, most tests per file first, started the
    chaos test last), and the longest files started first end the run soonest."""

    def weight(item: pytest.Item) -> int:
        if item.path.name == "test_chaos.py":
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    first: dict[Path, int] = {}
    for item in items:
        first[item.path] = min(first.get(item.path, 2), weight(item))
    items.sort(key=lambda item: first[item.path])
