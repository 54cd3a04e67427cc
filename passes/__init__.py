"""The passes: importing this package registers every pass; default_pipeline names them per mode."""

from __future__ import annotations

from . import bounds, explain, fold, lower, prune, sr, synth  # noqa: F401 - registers the passes

__all__ = ["PIPELINES", "default_pipeline"]

# mode → the passes it runs, in order
PIPELINES: dict[str, tuple[str, ...]] = {
    "auto": ("fold", "prune", "lower", "explain", "synth", "sr"),
    "exact": ("fold", "prune", "lower"),
    "symbolic": ("fold", "prune", "lower", "explain", "synth", "sr"),
}


def default_pipeline(mode: str) -> tuple[str, ...]:
    return PIPELINES[mode]
