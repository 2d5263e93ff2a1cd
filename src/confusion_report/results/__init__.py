"""The frozen results of a build, grouped by concept; everything is importable from here.

- :mod:`.core`: model, data, preprocessing, run, metrics, confusion, pairs, clusters, galleries
- :mod:`.feature_space`: projection, neighbour overlap, near-duplicates
- :mod:`.why`: attention, depth of separation, overlays, activation views
- :mod:`.diagnostics`: label issues, property slices, calibration
- :mod:`.findings`: the automatic findings
- :mod:`.class_groups`: confusion within vs across the groups of ``--class-groups``
- :mod:`.report`: :class:`ReportData`, which holds them all, and the JSON contract
"""

from .class_groups import ClassGroups, GroupSummary
from .core import (
    ClassMetrics,
    Cluster,
    Confusion,
    DatasetInfo,
    Gallery,
    ImagePredictions,
    ImageRef,
    Metrics,
    ModelInfo,
    Pair,
    PreprocessInfo,
    RunInfo,
    SkippedFile,
)
from .diagnostics import (
    Calibration,
    ClassCalibration,
    LabelIssues,
    LabelSuspect,
    NoiseExcess,
    PropertySlice,
    ReliabilityBin,
)
from .feature_space import (
    ClassOverlap,
    DuplicateGroup,
    DuplicateMember,
    Duplicates,
    ErrorNeighbours,
    FeatureSpace,
    Neighbour,
    PairOverlap,
    Projection,
    ProjectionInfo,
    SimilarClasses,
)
from .findings import Finding
from .report import SCHEMA_VERSION, ReportData
from .why import (
    GRID_NAMES,
    AttentionMap,
    AttentionResult,
    AttentionStats,
    ChannelContrast,
    ClassAttention,
    ExplainCost,
    ExplainImage,
    ExplainInfo,
    FeatureMapView,
    PairActivations,
    PairAttention,
    PairExplanation,
    PairSeparation,
    Separation,
    StageScore,
)

__all__ = [
    "GRID_NAMES",
    "SCHEMA_VERSION",
    "AttentionMap",
    "AttentionResult",
    "AttentionStats",
    "Calibration",
    "ChannelContrast",
    "ClassAttention",
    "ClassCalibration",
    "ClassGroups",
    "ClassMetrics",
    "ClassOverlap",
    "Cluster",
    "Confusion",
    "DatasetInfo",
    "DuplicateGroup",
    "DuplicateMember",
    "Duplicates",
    "ErrorNeighbours",
    "ExplainCost",
    "ExplainImage",
    "ExplainInfo",
    "FeatureMapView",
    "FeatureSpace",
    "Finding",
    "Gallery",
    "GroupSummary",
    "ImagePredictions",
    "ImageRef",
    "LabelIssues",
    "LabelSuspect",
    "Metrics",
    "ModelInfo",
    "Neighbour",
    "NoiseExcess",
    "Pair",
    "PairActivations",
    "PairAttention",
    "PairExplanation",
    "PairOverlap",
    "PairSeparation",
    "PreprocessInfo",
    "Projection",
    "ProjectionInfo",
    "PropertySlice",
    "ReliabilityBin",
    "ReportData",
    "RunInfo",
    "Separation",
    "SimilarClasses",
    "SkippedFile",
    "StageScore",
]
