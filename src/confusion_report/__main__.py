"""``python -m confusion_report`` runs the command-line interface."""

from .cli import main

main()
