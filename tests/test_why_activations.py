"""Activation views: the channels that tell a pair apart, and the most active feature maps of an image."""

from __future__ import annotations

import numpy as np
import torch

from confusion_report.analyses.channels import channel_contrasts
from confusion_report.analyses.predictions import Predictions
from confusion_report.explain.activations import feature_maps, top_channels
from confusion_report.results import Pair


def test_channel_that_fires_only_for_the_predicted_class_comes_first_with_its_images() -> None:
    """Channel 2 is high on B images only: it leads, favours B, and its top images are B's."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    pooled = rng.normal(0, 1, (40, 5))
    pooled[labels == 1, 2] += 6.0
    pooled[labels == 0, 4] += 2.0
    preds = Predictions(("A", "B"), tuple(f"{i}.png" for i in range(40)), labels, np.zeros((40, 2)))
    pair = Pair("A", "B", 3, 0.1, 1.0, 0, 0.8, "pair-a-b")
    first, second, _ = channel_contrasts(preds, pooled, pair, layer="layer3")
    assert (first.channel, first.favours) == (2, "B") and first.effect > 3
    assert all(int(p.split(".")[0]) >= 20 for p in first.top_images)
    assert (second.channel, second.favours) == (4, "A")


def test_feature_maps_come_from_the_named_layer_and_top_channels_are_the_most_active() -> None:
    """A conv whose channel 1 doubles the input and channel 0 zeroes it: channel 1 ranks first."""
    conv = torch.nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.0, 2.0]).reshape(2, 1, 1, 1))
    model = torch.nn.Sequential(conv, torch.nn.ReLU())
    maps = feature_maps(model, model, ["0"], torch.ones(1, 1, 4, 4))
    assert maps["0"].shape == (1, 2, 4, 4)
    assert list(top_channels(maps["0"][0], k=2)) == [1, 0]
