"""User-facing errors: each one is printed as a single line by the CLI, without a traceback."""


class ReportError(Exception):
    """Bad input or an impossible request, explained in one line.

    ``details`` holds what a library printed or raised on the way (its log, a traceback): the CLI
    shows it only with ``--verbose``, so the user's terminal gets the one line by default.
    """

    details: str = ""


class ModelLoadError(ReportError):
    """The model file cannot be loaded as asked."""


class DataError(ReportError):
    """The images or labels cannot be used as given."""


class ModelRunError(ReportError):
    """The model failed (raised, ran out of memory, returned NaN) during the pass."""
