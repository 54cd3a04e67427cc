"""How compile time and artifact speed grow with MLP width, depth and the discrete domain's size.

Each point is a full workload run restricted to torch eager and nnc's C loop, so its figures are
measured exactly like the main tables' (same calibration, same interleaving)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from torch import nn

from .bench import run_workload
from .settings import Settings
from .workloads import Workload, lookup_workload, mlp_workload

__all__ = ["DEPTHS", "SIDES", "WIDTHS", "run_scaling"]

WIDTHS = (16, 64, 256)  # MLP 3→w→w→1 ReLU
DEPTHS = (1, 2, 4)  # MLP 3→64×depth→1 ReLU
SIDES = (32, 100, 316, 1000)  # lookup over side² ≈ 10^3, 10^4, 10^5, 10^6 points
DEPTH_WIDTH = 64
RUNTIMES = ("torch", "nnc C")


def points() -> Iterator[tuple[str, int, Callable[[], Workload]]]:
    """(sweep, value, builder) for every point of the three sweeps."""
    spec = "x:float[3]=1..3"
    for width in WIDTHS:
        yield (
            "width",
            width,
            lambda w=width: mlp_workload(f"width {w}", f"width{w}", [3, w, w, 1], nn.ReLU, spec),
        )
    for depth in DEPTHS:
        yield (
            "depth",
            depth,
            lambda d=depth: mlp_workload(
                f"depth {d}", f"depth{d}", [3, *[DEPTH_WIDTH] * d, 1], nn.ReLU, spec
            ),
        )
    for side in SIDES:
        yield "domain", side * side, lambda s=side: lookup_workload(s)


def run_scaling(
    settings: Settings, workdir: Path, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One record per point: the workload record plus which sweep it belongs to."""
    restricted = dataclasses.replace(settings, runtimes=RUNTIMES)
    return [
        {"sweep": sweep, "value": value, **run_workload(build(), restricted, workdir, log)}
        for sweep, value, build in points()
    ]
