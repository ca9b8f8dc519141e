"""The service's logging: one JSON object per line on stdout (CloudWatch reads it), every line scrubbed (P7).

The scrubbing filter sits on the handler, so it sees every record that reaches the output, the
server's and the libraries' included. Uvicorn's access log is off: the service writes its own
`request.completed` telemetry lines (ids, timings, status codes; no paths, queries or bodies).
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

from runtime.telemetry import ScrubbingLogFilter

LOGGERS_AT_WARNING: Final = ("psycopg", "psycopg.pool", "uvicorn.error")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger to one scrubbed JSON-lines handler; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ScrubbingLogFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The lines hold none of these: each record spares the thread and process look-ups.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    return handler
