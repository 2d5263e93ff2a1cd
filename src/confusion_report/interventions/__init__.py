"""Findings tested by intervention: edit the images the way a finding says and re-run the model.

:mod:`.region` and :mod:`.slice` edit preprocessed tensors (torch); :mod:`.run` runs the batched
forwards inside a budget; :mod:`.outcome` holds what comes back (numbers and pictures, no torch).
The findings' text and severity are updated from the results by
:mod:`confusion_report.findings.intervention_update`, a pure rule.
"""
