"""The session's synthesized operator assembly (tests/stacks/conftest.py), shared with the e2e tests."""

from tests.stacks.conftest import operator  # noqa: F401  (the session fixture, re-exported here)
