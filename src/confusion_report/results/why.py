"""Why-the-model-decides results: attention statistics, depth of separation, overlays, activation views.

Every entry is keyed by its pair's ``anchor``. Computed by ``analyses/attention.py``,
``analyses/separation.py``, ``analyses/channels.py`` and the explain stage (``explain/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The 3x3 cells of an image, row-major: index k is row k // 3, column k % 3.
GRID_NAMES = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")


@dataclass(frozen=True)
class AttentionStats:
    """Where a (mean) CAM puts its mass: entropy, border vs centre, 3x3 grid shares."""

    n: int
    entropy: float  # normalised to 0..1; 1 means attention spread evenly over the map
    border_share: float  # mass in the outer ring of cells
    border_area: float  # the ring's share of the area (what an even map would give)
    grid: dict[str, float]  # share per cell of a 3x3 grid, keys in GRID_NAMES order
    peak: str  # the grid cell with the largest share


@dataclass(frozen=True)
class AttentionMap:
    """One mean CAM (each image's map sums to 1 before averaging) and its statistics."""

    group: str
    label: str
    map: tuple[tuple[float, ...], ...]
    stats: AttentionStats


@dataclass(frozen=True)
class ClassAttention:
    """Mean CAM of the true class over the correctly classified images of one class."""

    name: str = field(metadata={"json": "class"})
    attention: AttentionMap | None = None


@dataclass(frozen=True)
class PairAttention:
    """Attention for one confused pair: on its errors (for both classes) vs on correct images."""

    true: str
    pred: str
    anchor: str
    maps: tuple[AttentionMap, ...]


@dataclass(frozen=True)
class AttentionResult:
    """CAM statistics over every image of the pass."""

    layer: str
    method: str
    resolution: tuple[int, int]
    classes: tuple[ClassAttention, ...]
    pairs: tuple[PairAttention, ...]


@dataclass(frozen=True)
class StageScore:
    """How well a linear probe tells the two classes apart from one stage's pooled activations."""

    stage: str
    dim: int
    accuracy: float
    std: float


@dataclass(frozen=True)
class PairSeparation:
    """Cross-validated probe accuracy per stage for one pair (0.5 is chance: balanced classes)."""

    true: str
    pred: str
    anchor: str
    n_per_class: int
    stages: tuple[StageScore, ...]
    best_stage: str
    best_accuracy: float


@dataclass(frozen=True)
class Separation:
    """Depth of separation: where in the network the pairs' classes become (or stop being) separable."""

    method: str
    stages: tuple[str, ...]
    pairs: tuple[PairSeparation, ...]


@dataclass(frozen=True)
class ExplainImage:
    """One gallery image and the media keys of its overlays, by column title."""

    path: str
    role: str  # error | typical_true | typical_pred
    true: str
    pred: str
    overlays: dict[str, str]


@dataclass(frozen=True)
class PairExplanation:
    """The overlay strips of one pair's gallery images."""

    true: str
    pred: str
    anchor: str
    columns: tuple[str, ...]
    images: tuple[ExplainImage, ...]


@dataclass(frozen=True)
class ExplainCost:
    """What one explainer cost: extra image forwards (a backward to the CAM layer counts with its forward)
    and seconds."""

    method: str
    forwards: int
    seconds: float


@dataclass(frozen=True)
class ExplainInfo:
    """What the explain stage computed over the gallery images, how, and within which budget.

    ``budget_forwards`` is what the default methods (CAMs of images the pass did not cover, activation
    views, occlusion) may spend: ``budget`` times the pass's ``n_pass`` images (at least a small floor);
    LIME and SHAP are opt-in and outside it, their cost is in ``costs``.
    """

    methods: tuple[str, ...]
    cam_method: str | None
    target_layer: str | None
    occlusion_window: int | None
    occlusion_stride: int | None
    n_samples: int | None
    seconds: float
    notes: tuple[str, ...]
    pairs: tuple[PairExplanation, ...]
    cam_source: str | None = None  # "pass" (derived from the pass's maps) or "pytorch-grad-cam"
    budget: float | None = None
    budget_forwards: int | None = None
    n_pass: int | None = None
    gallery_errors: int = 0
    occluded_errors: int = 0
    occluded_images: int = 0
    occlusion_positions: int = 0
    costs: tuple[ExplainCost, ...] = ()


@dataclass(frozen=True)
class FeatureMapView:
    """The most active channels of one layer on one image, as media keys (one small map per channel)."""

    layer: str
    path: str
    role: str
    channels: tuple[int, ...]
    maps: tuple[str, ...]


@dataclass(frozen=True)
class ChannelContrast:
    """A channel whose mean pooled activation differs most between the pair's two classes."""

    layer: str
    channel: int
    mean_true: float
    mean_pred: float
    effect: float  # standardised difference (pred minus true, in pooled standard deviations)
    favours: str
    top_images: tuple[str, ...]


@dataclass(frozen=True)
class PairActivations:
    """Activation views of one pair."""

    true: str
    pred: str
    anchor: str
    views: tuple[FeatureMapView, ...]
    channels: tuple[ChannelContrast, ...]
