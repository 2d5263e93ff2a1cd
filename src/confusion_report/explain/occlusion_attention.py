"""Batched region occlusion for the attention evidence of models without hooks (see analyses/occlusion_attention).

Each sampled image is forwarded once as is and once per region (nine grid cells and the outer ring)
set to 0 after normalisation (the data mean), all in a few batches: 11 forwards per image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..analyses.label_issues import noise_excess, significant_pairs
from ..analyses.occlusion_attention import N_REGIONS, pair_inputs_from_drops, region_masks, sample_pairs
from ..analyses.predictions import Predictions
from ..data import load_rgb
from ..findings.inputs import PairAttentionInput
from ..forward_budget import DEFAULT_SHARE, attention_share
from ..loading import LoadedModel
from ..outputs import logits_module
from ..results import Pair

# Extra forwards allowed by default, as a share of the pass's images: a quarter of the default
# --explain-budget (forward_budget.attention_share).
OCCLUSION_BUDGET = attention_share(DEFAULT_SHARE)
FORWARDS_PER_IMAGE = N_REGIONS + 1


def region_drops(
    model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor, *, batch_size: int = 256
) -> np.ndarray:
    """(n, 10): how much the target logit drops when each region of each image is set to 0."""
    n, _, h, w = x.shape
    keep = torch.as_tensor(~region_masks(h, w), device=x.device, dtype=x.dtype)  # (10, h, w): 0 inside the region
    per_batch = max(1, batch_size // (N_REGIONS + 1))  # images per forward; their variants built batch by batch
    out = []
    with torch.no_grad():
        for start in range(0, n, per_batch):
            xb = x[start : start + per_batch]
            variants = torch.cat([xb[:, None], xb[:, None] * keep[None, :, None]], dim=1).flatten(0, 1)
            t = targets[start : start + per_batch].repeat_interleave(N_REGIONS + 1)
            # A model exported with a fixed batch of one (batch_size=1) takes its variants one at a time.
            logits = torch.cat([model(v) for v in variants.split(1)]) if batch_size == 1 else model(variants)
            out.append(logits.float().gather(1, t[:, None])[:, 0])
    scores = torch.cat(out).reshape(n, N_REGIONS + 1).cpu().numpy()
    return scores[:, :1] - scores[:, 1:]


def occlusion_attention(
    loaded: LoadedModel,
    p: Predictions,
    pairs: tuple[Pair, ...],
    *,
    root: Path,
    transform: Callable,
    device: torch.device,
    top_pairs: int,
    budget: float | None = None,
    batchable: bool = True,
) -> tuple[tuple[PairAttentionInput, ...], str, int]:
    """Attention inputs for the top pairs from region occlusion on a sample, a line saying what ran, and
    the extra forwards it spent.

    At most ``budget`` (default :data:`OCCLUSION_BUDGET`) x the pass's images extra forwards (11 per
    sampled image). Errors are occluded towards the class the model chose, correct images towards their
    own class, as the in-pass CAMs do.
    """
    budget = OCCLUSION_BUDGET if budget is None else budget
    max_images = int(budget * len(p.labels)) // FORWARDS_PER_IMAGE
    # The pairs a label finding would name go first: there the evidence decides between a cue and wrong labels.
    excess = significant_pairs(noise_excess(p.logits, p.labels, p.names).pairs)
    first = tuple((e.given, e.suggested) for e in excess)
    samples = sample_pairs(p, pairs, top_pairs=top_pairs, max_images=max_images, first=first)
    if not samples:
        return (
            (),
            (
                f"attention by occlusion: no pair has enough errors within the budget ({max_images} images, "
                f"{budget:.1%} of the pass in extra forwards)"
            ),
            0,
        )
    wanted = sorted({int(i) for s in samples for i in np.r_[s.errors, s.correct]})
    tensors, kept = [], []
    for i in wanted:
        try:
            img, _ = load_rgb(root / p.paths[i])
        except (ValueError, OSError):
            continue
        tensors.append(transform(img))
        kept.append(i)
    if not kept:
        return (), "attention by occlusion: none of the sampled images could be decoded", 0
    model = logits_module(loaded.module).to(device).eval()
    x = torch.stack(tensors).to(device)
    targets = torch.as_tensor(p.preds[kept], device=device)
    drops = region_drops(model, x, targets, batch_size=256 if batchable else 1)
    inputs = pair_inputs_from_drops(p, samples, dict(zip(kept, drops, strict=True)))
    forwards = len(kept) * FORWARDS_PER_IMAGE
    return (
        inputs,
        f"attention by occlusion (no hooks): {len(kept)} images x {FORWARDS_PER_IMAGE} forwards for "
        f"{len(inputs)} pair(s)",
        forwards,
    )
