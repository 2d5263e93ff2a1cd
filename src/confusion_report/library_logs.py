"""Hold back what torch logs while the project does something it reports in one line itself.

``torch.export.load`` logs a whole traceback (as a warning) before it raises on a truncated ``.pt2``;
the loader already turns that failure into one ``error:`` line, so the traceback is noise in the
user's terminal. :func:`held_back` captures torch's log records for the duration of a block: when
the block succeeds they are emitted as they would have been; when it fails, the caller attaches
their text to its error (``ReportError.details``), which the CLI prints only with ``--verbose``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

_PREFIX = "torch"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # A record can pass through several torch loggers' handlers: keep it once.
        if not any(r is record for r in self.records):
            self.records.append(record)


@contextmanager
def held_back() -> Iterator[list[logging.LogRecord]]:
    """Capture torch's log records in the block; yields the list they land in (replayed on success).

    torch gives its loggers their own stderr handlers (``torch``, ``torch.export``, ...), so each of
    them has its handlers swapped for the capture, not only the parent.
    """
    capture = _Capture()
    swapped: list[tuple[logging.Logger, list[logging.Handler]]] = []
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        ours = name == _PREFIX or name.startswith(_PREFIX + ".")
        if isinstance(logger, logging.Logger) and ours and (logger.handlers or name == _PREFIX):
            swapped.append((logger, logger.handlers[:]))
            logger.handlers = [capture]
    if not swapped:
        logger = logging.getLogger(_PREFIX)
        swapped.append((logger, logger.handlers[:]))
        logger.handlers = [capture]
    failed = False
    try:
        yield capture.records
    except BaseException:
        failed = True
        raise
    finally:
        for logger, handlers in swapped:
            logger.handlers = handlers
        if not failed:
            for record in capture.records:
                logging.getLogger(record.name).handle(record)


def format_records(records: list[logging.LogRecord]) -> str:
    """The captured records as torch would have printed them (messages and tracebacks)."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return "\n".join(formatter.format(r) for r in records)
