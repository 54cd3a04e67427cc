"""The passes: importing this package registers every pass; default_pipeline names them per mode."""

from __future__ import annotations

from . import explain, fold, lower, sr, synth  # noqa: F401 - registers the passes

__all__ = ["default_pipeline", "PIPELINES"]

# mode → the passes it runs, in order
PIPELINES: dict[str, tuple[str, ...]] = {
    "auto": ("fold", "lower", "explain", "synth", "sr"),
    "exact": ("fold", "lower"),
    "symbolic": ("fold", "lower", "explain", "synth", "sr"),
}


def default_pipeline(mode: str) -> tuple[str, ...]:
    return PIPELINES[mode]
