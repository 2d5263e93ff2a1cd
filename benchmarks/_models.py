"""Small models for the benchmarks, loadable with ``--arch benchmarks/_models.py:NAME`` (torch only)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCifarNet(nn.Module):
    """A CIFAR-sized CNN (32x32 inputs, three stages of 16/32/64 channels, about 0.1 M parameters)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(_block(3, 16, 1), _block(16, 16, 1))
        self.stage2 = nn.Sequential(_block(16, 32, 2), _block(32, 32, 1))
        self.stage3 = nn.Sequential(_block(32, 64, 2), _block(64, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stage3(self.stage2(self.stage1(x)))).flatten(1))
