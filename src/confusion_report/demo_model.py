"""The small CNN the demo trains; importable so ``--arch confusion_report.demo_model:DigitsNet`` works."""

from __future__ import annotations

from torch import nn


class DigitsNet(nn.Module):
    """Two conv blocks, 2x2 pooling and a two-layer head: a 32-dim embedding, ``num_classes`` logits."""

    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * width, 32), nn.ReLU())
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc(self.head(self.pool(self.features(x))))
