"""Run the findings' interventions: batched forwards of edited images, inside a budget of extra forwards.

For an ``attention_region`` finding (pair A -> B, region R): A's errors with R neutralised (how many turn
into A: "restored"), the same errors with a same-size region elsewhere neutralised (the control), and
correct A images with R neutralised (how many stay correct). For a ``property_slice`` finding: the slice's
images moved to the class's median value of the property (error rate before and after) and, as a control,
the same change applied to the class's images outside the slice. "Before" is the pass's own prediction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..analyses.image_stats import ImageStats
from ..analyses.predictions import Predictions
from ..engine import autocast_for
from ..results import Finding
from .outcome import EditedPicture, InterventionOutcome
from .region import (
    control_mask,
    control_regions,
    describe_fill,
    describe_region,
    neutralise,
    region_mask,
    to_input,
    to_pixels,
)
from .slice import describe_edit, edit, fit_strengths, unchangeable_reason

TESTED_KINDS = ("attention_region", "property_slice")
# Below this many images a share means nothing.
MIN_IMAGES = 5
EXAMPLES = 3

# indices into the predictions -> (their preprocessed tensors stacked, the indices that decoded)
ImageLoader = Callable[[np.ndarray], tuple[torch.Tensor | None, np.ndarray]]
Edit = Callable[[torch.Tensor, np.ndarray], torch.Tensor]


def not_run(reason: str) -> dict[str, Any]:
    """The ``evidence.intervention`` of a finding that was not tested, with the reason in words."""
    return {"status": "not run", "reason": reason}


@dataclass
class _Runner:
    """Batched, gradient-free forwards of edited images; counts what it spends."""

    model: nn.Module
    load: ImageLoader
    device: torch.device
    batch_size: int
    forwards: int = 0

    def predict(self, indices: np.ndarray, edits: Sequence[Edit]) -> tuple[list[np.ndarray], np.ndarray]:
        """Per edit, the predicted class of each decoded image of ``indices`` edited that way; and the
        positions (into ``indices``) that decoded."""
        outs: list[list[np.ndarray]] = [[] for _ in edits]
        kept: list[np.ndarray] = []
        amp, _ = autocast_for(self.device)
        n, step = len(indices), self.batch_size
        chunks = [np.arange(lo, min(lo + step, n)) for lo in range(0, n, step)]
        # The next chunk decodes on a second thread while the model runs on this one (PIL and the
        # transform's tensor ops release the GIL): at 10,000 CIFAR images decoding was 40% of this step.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="intervention-load") as loader:
            pending = loader.submit(self.load, indices[chunks[0]]) if chunks else None
            for i, pos in enumerate(chunks):
                x, ok = pending.result()
                if i + 1 < len(chunks):
                    pending = loader.submit(self.load, indices[chunks[i + 1]])
                if x is None or len(ok) == 0:
                    continue
                pos = pos[np.isin(indices[pos], ok)]
                x = x.to(self.device)
                for k, fn in enumerate(edits):
                    with torch.no_grad(), amp:
                        logits = self.model(fn(x, pos))
                    outs[k].append(logits.float().argmax(dim=1).cpu().numpy())
                    self.forwards += len(x)
                kept.append(pos)
        done = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
        return [np.concatenate(o) if o else np.zeros(0, dtype=np.int64) for o in outs], done


def _sample(idx: np.ndarray, m: int) -> np.ndarray:
    """``m`` of ``idx`` (all when there are no more), drawn reproducibly and kept in order."""
    if m >= len(idx):
        return idx
    return np.sort(np.random.default_rng(0).choice(idx, size=m, replace=False))


def _rgb(u: torch.Tensor) -> np.ndarray:
    return u.float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def run_interventions(
    findings: Sequence[Finding],
    *,
    model: nn.Module,
    predictions: Predictions,
    load: ImageLoader,
    stats: ImageStats | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: torch.device,
    budget: int,
    batch_size: int = 64,
    fill: str = "mean",
) -> InterventionOutcome:
    """Test every attention_region and property_slice finding; ``budget`` extra forwards in all (shared
    equally between them). ``model`` returns logits; ``load`` gives preprocessed (normalised) tensors."""
    started = time.perf_counter()
    todo = [k for k, f in enumerate(findings) if f.kind in TESTED_KINDS]
    if not todo:
        return InterventionOutcome(budget=budget)
    if budget <= 0:
        results = {k: not_run("interventions were turned off (a budget of 0 extra forwards)") for k in todo}
        return InterventionOutcome(results=results, budget=budget)
    probe, _ = load(np.arange(min(8, len(predictions.labels))))  # one decodable image tells the input shape
    if probe is None or probe.dim() != 4:
        reason = "the model's inputs are not image batches (N, C, H, W) that a region or property edit applies to"
        return InterventionOutcome(results={k: not_run(reason) for k in todo}, budget=budget)
    runner = _Runner(model=model.eval(), load=load, device=device, batch_size=batch_size)
    ctx = _Context(runner, predictions, stats, mean, std, fill)
    results: dict[int, dict[str, Any]] = {}
    pictures: dict[str, EditedPicture] = {}
    for j, k in enumerate(todo):
        share = (budget - runner.forwards) // (len(todo) - j)  # what earlier findings left, shared equally
        f = findings[k]
        tag = f"iv:{k}"
        if f.kind == "attention_region":
            results[k] = _attention(ctx, f, share, tag, pictures)
        else:
            results[k] = _slice(ctx, f, share, tag, pictures)
    return InterventionOutcome(
        results=results,
        pictures=pictures,
        forwards=runner.forwards,
        budget=budget,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _Context:
    runner: _Runner
    p: Predictions
    stats: ImageStats | None
    mean: Sequence[float] | None
    std: Sequence[float] | None
    fill: str


def _examples(
    ctx: _Context,
    idx: np.ndarray,
    edit_fn: Edit,
    before: np.ndarray,
    after: np.ndarray,
    tag: str,
    pictures: dict[str, EditedPicture],
) -> list[dict[str, Any]]:
    """Before/after pictures of a few images (``idx`` in the order to show), with both predictions."""
    x, ok = ctx.runner.load(idx)
    if x is None or not len(ok):
        return []
    pos = np.flatnonzero(np.isin(idx, ok))
    edited = edit_fn(x.to(ctx.runner.device), pos)
    out = []
    for row, k in enumerate(pos):
        key = f"{tag}:{row}"
        pictures[f"{key}:before"] = EditedPicture(_rgb(to_pixels(x[row : row + 1], ctx.mean, ctx.std)[0]))
        pictures[f"{key}:after"] = EditedPicture(_rgb(to_pixels(edited[row : row + 1], ctx.mean, ctx.std)[0]))
        names = ctx.p.names
        out.append(
            {
                "path": ctx.p.paths[int(idx[k])],
                "before": f"{key}:before",
                "after": f"{key}:after",
                "pred_before": names[int(before[k])],
                "pred_after": names[int(after[k])],
            }
        )
    return out


def _attention(ctx: _Context, f: Finding, share: int, tag: str, pictures: dict[str, EditedPicture]) -> dict[str, Any]:
    p = ctx.p
    region = str(f.evidence.get("region", ""))
    a, b = (p.names.index(c) for c in f.classes[:2])
    errors = np.flatnonzero((p.labels == a) & (p.preds == b))
    correct = np.flatnonzero((p.labels == a) & (p.preds == a))
    n_err = min(len(errors), share // 3)
    n_cor = min(len(correct), share - 2 * n_err)
    if n_err < MIN_IMAGES:
        return not_run(f"the budget of extra forwards left room for {n_err} of the {len(errors)} errors")
    errors, correct = _sample(errors, n_err), _sample(correct, n_cor)
    controls = control_regions(region)
    masks: dict[tuple[str, int, int], torch.Tensor] = {}

    def mask_of(name: str, h: int, w: int) -> torch.Tensor:
        if (name, h, w) not in masks:
            masks[(name, h, w)] = control_mask(name, h, w)
        return masks[(name, h, w)]

    def named(x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        return neutralise(x, region_mask(region, *x.shape[-2:]), fill=ctx.fill, mean=ctx.mean, std=ctx.std)

    def control(x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        m = torch.stack([mask_of(controls[int(k) % len(controls)], *x.shape[-2:]) for k in pos])
        return neutralise(x, m, fill=ctx.fill, mean=ctx.mean, std=ctx.std)

    (after, after_ctl), kept = ctx.runner.predict(errors, [named, control])
    after_cor = np.zeros(0, dtype=np.int64)
    if len(correct):
        (after_cor,), _ = ctx.runner.predict(correct, [named])
    errors = errors[kept]
    if len(errors) < MIN_IMAGES:
        return not_run("too few of the errors could be decoded again")
    restored, restored_ctl = after == a, after_ctl == a
    # The paired comparison: errors restored by the named region only vs by the control only (exact McNemar).
    only_named, only_ctl = int((restored & ~restored_ctl).sum()), int((~restored & restored_ctl).sum())
    from scipy.stats import binomtest

    pv = binomtest(only_named, only_named + only_ctl, 0.5, alternative="greater").pvalue if only_named else 1.0
    order = np.argsort(~restored, kind="stable")[:EXAMPLES]  # restored errors first: they show the effect
    fill = describe_fill(ctx.fill, ctx.mean)
    where = describe_region(region)
    ctl_words = (
        "each image one of the other eight grid cells in turn" if region != "border" else describe_region(controls[0])
    )
    return {
        "status": "tested",
        "action": f"{where} filled with {fill}",
        "control_action": f"a region of the same size elsewhere ({ctl_words}) filled the same way",
        "fill": ctx.fill,
        "n": len(errors),
        "n_errors": len(np.flatnonzero((p.labels == a) & (p.preds == b))),
        "restored": float(restored.mean()),
        "control_restored": float(restored_ctl.mean()),
        "left_pred": float((after != b).mean()),
        "n_correct": len(after_cor),
        "kept_correct": float((after_cor == a).mean()) if len(after_cor) else None,
        "p_value": float(pv),
        "forwards": 2 * len(errors) + len(after_cor),
        "examples": _examples(ctx, errors[order], named, np.full(len(order), b), after[order], tag, pictures),
    }


def _slice_members(ctx: _Context, f: Finding, a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(class members, mask of the slice among them, the property's values over the members or None)."""
    stats, p = ctx.stats, ctx.p
    members = np.flatnonzero(p.labels == a)
    prop = f.evidence["property"]
    if prop == "grayscale":
        return members, stats.grayscale[members], None
    values = stats.continuous()[prop][members]
    thr = float(f.evidence["threshold"])
    inside = values <= thr if f.evidence["direction"] == "low" else values >= thr
    return members, inside, values


def _slice(ctx: _Context, f: Finding, share: int, tag: str, pictures: dict[str, EditedPicture]) -> dict[str, Any]:
    p = ctx.p
    prop, direction = f.evidence.get("property"), f.evidence.get("direction")
    reason = unchangeable_reason(str(prop), str(direction))
    if reason is not None:
        return not_run(reason)
    if ctx.stats is None:
        return not_run("the pass measured no image statistics (inputs that are not RGB images)")
    a = p.names.index(f.classes[0])
    b = p.names.index(f.classes[1]) if len(f.classes) > 1 else None

    def wrong(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return preds != labels if b is None else preds == b

    members, inside, values = _slice_members(ctx, f, a)
    reverse = prop == "grayscale"
    # Grayscale images cannot get their colour back: the reverse test greys the class's colour images, and
    # the control greys colour images of the other classes. Every other property moves the slice to the median.
    if reverse:
        edited_set = members[~inside]
        colour = ~ctx.stats.grayscale
        others = np.flatnonzero(colour & (p.labels != a))
        target = 0.0
    else:
        edited_set, others = members[inside], members[~inside]
        target = float(np.median(values))
    n_in = min(len(edited_set), share // 2)
    n_out = min(len(others), share - n_in)
    if n_in < MIN_IMAGES:
        return not_run(f"the budget of extra forwards left room for {n_in} of the {len(edited_set)} images")
    sample, control_sample = _sample(edited_set, n_in), _sample(others, n_out)
    fitted: list[np.ndarray] = []

    def strengths(x: torch.Tensor, idx: np.ndarray) -> np.ndarray:
        if prop == "size":
            side = math.sqrt(x.shape[-2] * x.shape[-1])  # what the model sees: detail above it is lost anyway
            size = ctx.stats.continuous()["size"][idx]
            return np.minimum(target, side) / np.maximum(np.minimum(size, side), 1e-9)
        return fit_strengths(str(prop), to_pixels(x, ctx.mean, ctx.std), target)

    def apply(x: torch.Tensor, s: np.ndarray) -> torch.Tensor:
        return to_input(edit(str(prop), to_pixels(x, ctx.mean, ctx.std), torch.as_tensor(s)), ctx.mean, ctx.std)

    def toward(x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        s = strengths(x, sample[pos])
        fitted.append(s)
        return apply(x, s)

    (after,), kept = ctx.runner.predict(sample, [toward])
    chosen = sample[kept]
    if len(chosen) < MIN_IMAGES:
        return not_run("too few of the slice's images could be decoded again")
    used = np.concatenate(fitted)  # aligned with ``chosen``

    def same_change(x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        return apply(x, used[pos % len(used)])  # the slice's own strengths, dealt out in turn

    after_ctl = np.zeros(0, dtype=np.int64)
    control_set = control_sample
    if len(control_sample):
        (after_ctl,), kept_ctl = ctx.runner.predict(control_sample, [same_change])
        control_set = control_sample[kept_ctl]
    before = wrong(p.preds[chosen], p.labels[chosen])
    now = wrong(after, p.labels[chosen])
    fixed, broken = int((before & ~now).sum()), int((~before & now).sum())
    from scipy.stats import binomtest

    better, worse = (broken, fixed) if reverse else (fixed, broken)
    pv = binomtest(better, better + worse, 0.5, alternative="greater").pvalue if better else 1.0
    changed = (~before & now) if reverse else (before & ~now)
    show = np.argsort(~changed, kind="stable")[:EXAMPLES]  # images whose prediction changed first

    def picture_edit(x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        return apply(x, used[show[pos]])

    # Greying other classes' images is judged by their own errors; a pair's "error" means the pair's class.
    ctl_wrong = (lambda pr, lab: pr != lab) if reverse else wrong
    has_ctl = len(control_set) > 0
    return {
        "status": "tested",
        "action": describe_edit(str(prop), str(direction), target),
        "control_action": (
            "colour images of the other classes turned grayscale"
            if reverse
            else f"the same change applied to {f.classes[0]} images outside the slice"
        ),
        "reverse": reverse,
        "n": len(chosen),
        "n_slice": len(edited_set),
        "error_before": float(before.mean()),
        "error_after": float(now.mean()),
        "n_control": len(control_set),
        "control_error_before": float(ctl_wrong(p.preds[control_set], p.labels[control_set]).mean())
        if has_ctl
        else None,
        "control_error_after": float(ctl_wrong(after_ctl, p.labels[control_set]).mean()) if has_ctl else None,
        "p_value": float(pv),
        "forwards": len(chosen) + len(control_set),
        "examples": _examples(ctx, chosen[show], picture_edit, p.preds[chosen[show]], after[show], tag, pictures),
    }
