"""Tiny models of each family (CNN, ViT, Swin, ConvNeXt, MaxViT, timm and Hugging Face ViTs) that learn a
corner cue in a few steps, and the image folder whose errors that cue explains.

Class ``marked`` (1) is learnt from images that carry either a bright square in the top-left corner or a
bright blob in the centre, each alone enough; ``clean`` (0) carries neither. The test folder's ``marked``
images carry only the blob, and a few ``clean`` images carry the square: those become ``clean -> marked``
errors whose explanation, and only theirs, lies in the top-left corner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from why_builders import save

SIDE = 32
CORNER = 8  # the square covers the top-left 8x8 px: one patch of 8 px, inside the top-left cell of a 3x3 grid


def cue_image(kind: str, *, rng: np.random.Generator) -> np.ndarray:
    """A dim noisy SIDE x SIDE x 3 image in 0..1: ``plain``, ``corner`` (top-left square) or ``centre`` (blob)."""
    img = np.clip(0.3 + rng.normal(0, 0.05, (SIDE, SIDE, 3)), 0, 1)
    if kind == "corner":
        img[:CORNER, :CORNER] = 0.95
    elif kind == "centre":
        c = SIDE // 2
        img[c - 5 : c + 5, c - 5 : c + 5] = 0.95
    return img


def training_batch(n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Half plain (0), a quarter corner and a quarter centre (1), as N x 3 x SIDE x SIDE tensors."""
    rng = np.random.default_rng(seed)
    kinds = ["plain"] * (n // 2) + ["corner"] * (n // 4) + ["centre"] * (n - n // 2 - n // 4)
    x = np.stack([cue_image(k, rng=rng) for k in kinds]).astype(np.float32)
    y = torch.tensor([0 if k == "plain" else 1 for k in kinds])
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), y


def make_cue_folder(root: Path, *, plain: int = 12, marked: int = 12, planted: int = 6) -> Path:
    """clean/ (``planted`` of them carry the corner square) and marked/ (the centre blob only)."""
    rng = np.random.default_rng(123)
    for i in range(plain):
        save(cue_image("plain", rng=rng), root / "clean" / f"c{i:02d}.png")
    for i in range(planted):
        save(cue_image("corner", rng=rng), root / "clean" / f"cornered_{i}.png")
    for i in range(marked):
        save(cue_image("centre", rng=rng), root / "marked" / f"m{i:02d}.png")
    return root


class SmallCnn(nn.Module):
    """Three convolutions down to an 8x8 map, global pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


class HfLogits(nn.Module):
    """Only for training: a Hugging Face model's output object to its logits."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).logits


def family_model(family: str) -> nn.Module:
    """A random-init tiny model of ``family`` for SIDE x SIDE inputs and two classes."""
    import torchvision.models as tvm

    if family == "cnn":
        return SmallCnn()
    if family == "vit":  # class-token head: the patch tokens leave the decision inside the last block
        return tvm.VisionTransformer(
            image_size=SIDE, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=2
        )
    if family == "swin":  # channels-last stages
        return tvm.SwinTransformer(
            patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=[4, 4], num_classes=2
        )
    if family == "convnext":
        from torchvision.models.convnext import CNBlockConfig

        return tvm.ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=2)
    if family == "maxvit":  # one block: an 8x8 last map, where the 8 px cue covers 2x2 cells (see the test)
        return tvm.MaxVit(
            input_size=(SIDE, SIDE),
            stem_channels=8,
            partition_size=2,
            block_channels=[16],
            block_layers=[1],
            head_dim=8,
            stochastic_depth_prob=0.0,
            num_classes=2,
        )
    if family == "timm-vit-registers":  # DINOv2-like: a class token and 4 register tokens lead the patches
        import timm

        return timm.create_model(
            "vit_small_patch16_224",
            pretrained=False,
            img_size=SIDE,
            patch_size=8,
            embed_dim=32,
            depth=2,
            num_heads=2,
            reg_tokens=4,
            num_classes=2,
        )
    if family == "hf-vit":
        from transformers import ViTConfig, ViTForImageClassification

        config = ViTConfig(
            image_size=SIDE,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=2,
            id2label={0: "clean", 1: "marked"},
            label2id={"clean": 0, "marked": 1},
        )
        return ViTForImageClassification(config)
    raise ValueError(family)


# Adam steps, learning rate and distinct batches that teach each family the cue (checked by the tests'
# accuracy assertion). ConvNeXt's per-position LayerNorm after its patchify stem removes most of a uniform
# square's brightness, so it learns the square from its edges: with 4 batches it also learnt their noise
# (3 of the test folder's 6 cornered images flipped), with 16 all 6 do.
TRAINING = {
    "cnn": (60, 3e-3, 4),
    "vit": (60, 3e-3, 4),
    "swin": (60, 3e-3, 4),
    "convnext": (200, 1e-3, 16),
    "maxvit": (60, 1e-3, 4),
    "timm-vit-registers": (150, 1e-3, 4),
    "hf-vit": (150, 2e-3, 4),
}


def trained(family: str) -> nn.Module:
    """A tiny model of ``family`` that has learnt the cue."""
    steps, lr, batches = TRAINING[family]
    torch.manual_seed(0)
    return train_on_cue(family_model(family), steps=steps, lr=lr, batches=batches)


def train_on_cue(model: nn.Module, *, steps: int = 80, lr: float = 1e-3, seed: int = 0, batches: int = 4) -> nn.Module:
    """A few Adam steps on ``batches`` alternating batches of :func:`training_batch`; returns the model in
    eval mode.

    Batch norms average their statistics over every step (momentum None): MaxViT's momentum of 0.01 would
    leave the running statistics near their initial values after so few steps.
    """
    torch.manual_seed(seed)
    net = HfLogits(model) if hasattr(model, "config") else model
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    data = [training_batch(64, seed=seed + k) for k in range(batches)]
    for step in range(steps):
        x, y = data[step % len(data)]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return model.eval()
