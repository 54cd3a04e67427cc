"""The passes: importing this package registers every pass; default_pipeline names them per mode."""

from __future__ import annotations

from . import (  # noqa: F401 - registers passes
    automata,
    distill,
    explain,
    fold,
    lower,
    prune,
    reroll,
    sr,
    synth,
    units,
)

__all__ = ["PIPELINES", "default_pipeline"]

EXACT = ("fold", "reroll", "prune", "lower")
# auto and symbolic search the same way; symbolic then fails unless every output is a closed form.
# NOTE: explain runs before prune, so its evidence (e.g. the ablation) is about the network as
# given, not about an approximately pruned copy of it.
SEARCH = ("fold", "reroll", "explain", "prune", "lower", "automata", "synth", "distill", "sr")
# mode → the passes it runs, in order
PIPELINES: dict[str, tuple[str, ...]] = {"auto": SEARCH, "exact": EXACT, "symbolic": SEARCH}


def default_pipeline(mode: str, explain_units: bool = False) -> tuple[str, ...]:
    """The mode's passes; with units asked for, `units` first, on the traced graph (before any
    rewrite renames or removes a unit)."""
    return ("units", *PIPELINES[mode]) if explain_units else PIPELINES[mode]
