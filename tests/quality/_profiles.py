"""A minimal stand-in for the reference profile: just what the quality tracker reads.

The tracker is written against ``mlscope.engine.quality.tracker.ProfileLike``; these tests
build that shape directly so that each quality test controls classes and bins exactly.
``test_tracker_with_real_profile`` checks the real ``Profile`` fits the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FakeFeature:
    name: str
    n_bins: int
    bin_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeColumn:
    """A reference target or prediction column: its categories rank the classes."""

    name: str
    categories: tuple[str, ...]
    counts: tuple[int, ...]


@dataclass
class FakeProfile:
    task: str | None
    classes: list[str] = field(default_factory=list)
    features: list[FakeFeature] = field(default_factory=list)
    quality: dict[str, float] = field(default_factory=dict)
    target: FakeColumn | None = None
    outputs: list[FakeColumn] = field(default_factory=list)
