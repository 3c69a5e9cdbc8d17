"""Structured logs: JSON lines on stderr, with ids and states, never report content.

Log calls pass ids (report_id, packet_id, recipient_id) and outcomes only. Nothing that came out of
a report body is ever handed to a logger, and tracebacks are rendered without local variables.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

# Frames only: local variables could hold a report being parsed.
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send structlog and the standard library's records to `stream` (stderr) as JSON lines."""
    out = stream if stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            _TRACEBACKS,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _TRACEBACKS,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # One line per push request (httpx) or per skipped overlapping run (APScheduler) is noise:
    # the hub logs each delivery's outcome itself, and a job's failure by its type.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    # fontTools logs each font it subsets for a PDF at INFO ("glyf pruned", ...), with the list of
    # glyphs kept: noise to a reader of `connector render`, and a trace of the text that was set.
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A bound structlog logger named for its module."""
    return structlog.get_logger(name)
