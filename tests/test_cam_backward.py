"""The in-pass CAM's backward after the target layer: as small as the model allows, with the same maps.

After a class-token head only the class token of the last block's MLP reaches the logits, so the plan has
those per-token modules recompute that token alone with a graph; the modules after the target get their
parameters into the graph (so PyTorch folds their matrix products) and are frozen again afterwards.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from confusion_report.collectors.cams import CamCollector
from confusion_report.config import BuildConfig
from confusion_report.layers import plan_cam_backward, trace_shapes
from confusion_report.loading import LoadedModel, get_submodule
from confusion_report.outputs import logits_module
from confusion_report.why import plan_why
from family_builders import SIDE, family_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download: models are built from configs


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_head(model: nn.Module) -> nn.Module:
    """torchvision's ViT starts with a zero head (no gradient at all): give every family a random one."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.out_features == 2:
            nn.init.normal_(m.weight, std=0.5)
    return model.eval()


def _cams(model: nn.Module, cam: CamCollector, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the pre-ReLU maps of the predicted class and of class 1, as the pass takes them."""
    net = logits_module(model)
    cam.attach(net, len(x))
    try:
        with torch.enable_grad():
            logits = net(x)
            maps = cam.maps_for(logits, [logits.argmax(dim=1), torch.ones(len(x), dtype=torch.long)])
    finally:
        cam.detach()
    return logits.detach(), maps.detach()


@pytest.mark.parametrize(
    ("family", "package", "mlp", "attention"),
    [
        ("vit", None, "encoder.layers.encoder_layer_1.mlp", "encoder.layers.encoder_layer_1.self_attention"),
        ("timm-vit-registers", "timm", "blocks.1.mlp", "blocks.1.attn"),
        ("hf-vit", "transformers", "vit.layers.1.mlp", "vit.layers.1.attention"),
    ],
)
def test_a_class_token_head_cuts_the_last_mlp_to_the_class_token_with_the_same_maps(
    family: str, package: str | None, mlp: str, attention: str
) -> None:
    """The plan cuts the last block's MLP to token 0 (not the attention, which mixes tokens); the maps and
    logits equal those of a backward through everything, and the parameters are frozen again after."""
    if package:
        pytest.importorskip(package)
    model = _random_head(family_model(family))
    x = torch.rand(3, 3, SIDE, SIDE)
    plan = plan_why(LoadedModel(model, "module", family, hookable=True), x[0], BuildConfig())
    (cam,) = [c for c in plan.collectors if isinstance(c, CamCollector)]
    cut = {name: rows for name, sub in model.named_modules() for m, rows in cam.token_rows.items() if m is sub}
    assert cut.get(mlp) == (0,), cut
    assert attention not in cut, cut
    assert cam.grad_modules

    model.requires_grad_(False)
    plain = CamCollector(get_submodule(model, plan.target_layer), layout=plan.target_layout)
    logits, maps = _cams(model, cam, x)
    plain_logits, plain_maps = _cams(model, plain, x)
    assert torch.allclose(logits, plain_logits, rtol=1e-4, atol=1e-5)
    assert maps.abs().max() > 0
    assert torch.allclose(maps, plain_maps, rtol=1e-3, atol=1e-5 * float(plain_maps.abs().max()))
    assert not any(p.requires_grad for p in model.parameters())


class _MeanMixer(nn.Module):
    """Adds the mean token to every token: it mixes tokens, though its output reaches the head only at token 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.mean(dim=1, keepdim=True)


class _MixedTokenNet(nn.Module):
    """Patch embedding, one per-token layer (the target), a token mixer and a per-token MLP, a class-token head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 8, stride=8)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.norm = nn.LayerNorm(8)
        self.mix = _MeanMixer()
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        tokens = self.mix(self.norm(tokens))
        return self.head(self.mlp(tokens)[:, 0])


def test_a_module_that_mixes_tokens_keeps_its_whole_backward() -> None:
    """Only token 0 of the mixer's output reaches the head, but run on that token alone it gives another
    result: it is not cut, while the per-token MLP after it is."""
    torch.manual_seed(0)
    model = _MixedTokenNet().eval()
    sample = torch.rand(3, 32, 32)
    shapes = trace_shapes(model, sample)
    assert shapes.layouts["norm"].kind == "tokens"
    backward = plan_cam_backward(model, sample, shapes, "norm")
    assert backward.rows == {"mlp": (0,)}
    assert "mlp.0" in backward.params_after and "embed" not in backward.params_after


def test_a_globally_pooled_token_model_cuts_nothing() -> None:
    """When every token reaches the head (mean pooling), no module is cut to rows."""
    torch.manual_seed(0)
    model = _MixedTokenNet().eval()
    model.forward = lambda x: model.head(  # type: ignore[method-assign]
        model.mlp(model.mix(model.norm(model.embed(x).flatten(2).transpose(1, 2)))).mean(dim=1)
    )
    sample = torch.rand(3, 32, 32)
    shapes = trace_shapes(model, sample)
    assert plan_cam_backward(model, sample, shapes, "norm").rows == {}
