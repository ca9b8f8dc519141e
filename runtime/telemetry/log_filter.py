"""A logging filter that redacts PII and secrets from log lines: P7's backstop for logs."""

import logging

from runtime.telemetry.emitter import CheckedLine
from runtime.telemetry.scrubber import LOG_KINDS, Scrubber


class ScrubbingLogFilter(logging.Filter):
    """Formats each record's message once, redacts it, and drops the arguments it came from. The Emitter's
    telemetry lines (`CheckedLine`) pass as they are: their every value was checked before they were made."""

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        super().__init__()
        self._scrubber = scrubber or Scrubber(LOG_KINDS)

    def filter(self, record: logging.LogRecord) -> bool:
        if type(record.msg) is CheckedLine and not record.args and record.exc_info is None:
            return True  # a telemetry line the Emitter checked, each value against every kind of ours
        record.msg = self._scrubber.redact(record.getMessage())
        record.args = None
        if record.exc_info is not None:
            # Tracebacks quote values; keep the redacted text, drop the live exception.
            record.exc_text = self._scrubber.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
