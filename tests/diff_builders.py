"""Two runs to diff: the colour model and a copy that is worse on one class, built in seconds."""

from __future__ import annotations

from pathlib import Path

import torch

from builders import CLASS_CHANNELS, ColourNet

# Options that keep a build to a second or two: no overlays, PCA, tiny images, no workers.
FAST = {"preset": "none", "workers": 0, "progress": False, "explain": (), "projection": "pca"}
FAST_CLI = ("--preset", "none", "--workers", "0", "--quiet", "--explain", "none", "--projection", "pca")


def worse_net(victim: str = "red", thief: str = "green") -> ColourNet:
    """ColourNet whose ``thief`` output also reads ``victim``'s channel: bright ``victim`` images turn ``thief``.

    Class order is ColourNet's (blue, green, red); only images of ``victim`` change their prediction.
    """
    names = ("blue", "green", "red")
    net = ColourNet()
    with torch.no_grad():
        # The victim's own logit is gain * 0.9 on its images; the thief's gets 0.9 * gain more, which wins
        # there but stays below the true logit on every other class's images (their victim channel is ~0.2).
        net.fc.weight[names.index(thief), CLASS_CHANNELS[names.index(victim)]] = 0.9 * net.fc.weight[0, 2]
    return net.eval()


def save_state(net: ColourNet, path: Path) -> Path:
    """A state_dict file for ``--arch builders:ColourNet``."""
    torch.save(net.state_dict(), path)
    return path
