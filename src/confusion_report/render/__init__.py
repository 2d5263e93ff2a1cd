"""Pure renderers: ReportData in, HTML out. Nothing under render/ imports torch."""
