"""User-facing errors: each one is printed as a single line by the CLI, without a traceback."""


class ReportError(Exception):
    """Bad input or an impossible request, explained in one line."""


class ModelLoadError(ReportError):
    """The model file cannot be loaded as asked."""


class DataError(ReportError):
    """The images or labels cannot be used as given."""
