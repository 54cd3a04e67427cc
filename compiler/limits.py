"""Resource limits, checked before nnc allocates for them: scalars per sample, memory for the domain
points, model parameters. Each error names the limit and the option that raises it."""

from __future__ import annotations

from collections.abc import Sequence

from .domain import Domain, points_bytes
from .errors import InputError
from .options import LIMITS, Options
from .spec import InputSpec

__all__ = ["check_input_elements", "check_parameters", "check_points"]


def check_input_elements(specs: Sequence[InputSpec], options: Options) -> None:
    """One sample may hold at most max_input_elements scalars (nnc builds arrays of samples)."""
    total = sum(spec.numel for spec in specs)
    _check("max_input_elements", total, options, f"the inputs hold {total:,} scalars per sample")


def check_points(specs: Sequence[InputSpec], options: Options) -> None:
    """The points nnc runs the network on must fit max_points_bytes."""
    domain = Domain(specs)
    n = domain.point_count(options.enumerate_limit, options.samples)
    needed = points_bytes(n, domain.width)
    _check(
        "max_points_bytes",
        needed,
        options,
        f"checking {n:,} points of {domain.width:,} scalars needs {needed / 2**30:.1f} GiB",
        "or lower samples / enumerate_limit",
    )


def check_parameters(count: int, options: Options) -> None:
    """The model may have at most max_parameters weights (code generation memory grows with them)."""
    _check("max_parameters", count, options, f"the model has {count:,} parameters")


def _check(limit: str, value: int, options: Options, what: str, alternative: str = "") -> None:
    allowed = getattr(options, limit)
    if value <= allowed:
        return
    raise InputError(
        f"{what}; nnc's limit is {limit}={allowed:,} {LIMITS[limit]}",
        hint=f"raise it with {limit}=N (CLI: --limit {limit}=N){' ' + alternative if alternative else ''}",
    )
