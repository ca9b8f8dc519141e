import logging

import pytest

from runtime.telemetry import ScrubbingLogFilter


@pytest.fixture
def logger() -> logging.Logger:
    log = logging.getLogger("test.scrubbed")
    log.filters.clear()
    log.addFilter(ScrubbingLogFilter())
    return log


def test_log_filter_redacts_arguments(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test.scrubbed"):
        logger.info("login by %s from %s", "carol@example.com", "203.0.113.9")
    message = caplog.records[0].getMessage()
    assert "carol" not in message
    assert "203.0.113.9" not in message
    assert message.startswith("login by [REDACTED:email] from [REDACTED:ip-address]")


def test_log_filter_redacts_exception_text(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="test.scrubbed"):
        try:
            raise ValueError("bad key sk-abcdefghijklmnopqrstuvwx")
        except ValueError:
            logger.exception("failed")
    assert "sk-abc" not in caplog.text
    assert "[REDACTED:secret]" in caplog.text
