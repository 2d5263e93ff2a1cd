"""The second, small pass: overlays and activation views for the few images the galleries show.

One small module per method (``gradcam``, ``occlusion``, ``surrogate`` for LIME/KernelSHAP,
``activations``); ``run`` picks the images and stores every picture as a data URI in ``media``.
"""
