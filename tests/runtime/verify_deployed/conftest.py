from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto import mock_aws

from tests.runtime.verify_deployed.healthy import Healthy, forget_clients


@contextmanager
def _moto() -> Iterator[Healthy]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        forget_clients()
        with mock_aws():
            yield Healthy.build()
        forget_clients()


@pytest.fixture
def healthy() -> Iterator[Healthy]:
    """A healthy environment of its own (for tests that leave it changed)."""
    with _moto() as made:
        yield made


@pytest.fixture(scope="module")
def shared() -> Iterator[Healthy]:
    """One healthy environment for a module's mutation tests: each undoes its mutation (and checks it did)."""
    with _moto() as made:
        yield made
