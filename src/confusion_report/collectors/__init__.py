"""What the one pass gathers per image besides the logits, each on the :class:`~.base.Collector` hook base.

- :mod:`.embedding`: the penultimate embedding
- :mod:`.cams`: a low-resolution Grad-CAM of the predicted and the true class
- :mod:`.stages`: globally pooled stage activations
- :mod:`.image_stats`: brightness, contrast, saturation, sharpness, grayscale

They import torch; the analyses that read their arrays do not.
"""
