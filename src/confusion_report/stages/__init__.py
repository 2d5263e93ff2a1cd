"""The build as a short sequence of named stages, each a function with typed inputs and outputs.

    load      (load.py)      data index, model, preprocessing, probe, collectors       -> Setup
    run_pass  (run_pass.py)  pass cache, torchrun shards, CPU/GPU decode, the one pass -> PassResult
    analyse   (analyse.py)   core metrics, feature space, why, diagnostics + findings  -> Analysis
    media     (media.py)     which images the report shows; every thumbnail and overlay -> Media
    assemble  (assemble.py)  everything above -> ReportData (frozen; the JSON contract)
    write     (write.py)     report HTML, results JSON, predictions CSV (atomic writes)

``api.build`` calls them top to bottom. Only ``load``, ``run_pass`` and the why part of ``analyse``
touch torch; from ``media`` on everything is numpy, Pillow and Jinja.
"""
