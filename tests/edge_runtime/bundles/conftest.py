"""The ``bundles`` fixture lives in tests/edge_fixtures.py (shared with the end-to-end tests)."""
