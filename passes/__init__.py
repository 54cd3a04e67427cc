"""The passes: importing this package registers every pass; default_pipeline names them per mode."""

from __future__ import annotations

from . import fold  # noqa: F401 - registers the pass

__all__ = ["default_pipeline", "PIPELINES"]

# mode → the passes it runs, in order
PIPELINES: dict[str, tuple[str, ...]] = {
    "exact": ("fold",),
}


def default_pipeline(mode: str) -> tuple[str, ...]:
    return PIPELINES[mode]
