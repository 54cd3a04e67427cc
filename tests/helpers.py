"""Assertions every test uses; tolerances live here, named, and nowhere else."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from nnc.domain import Domain
from nnc.fidelity import Gate
from nnc.native import JitCompiler
from nnc.options import make_options
from nnc.pipeline import PassContext, Setting
from nnc.spec import InputSpec
from nnc.spec_grammar import parse_inputs
from nnc.torch_model import eval_mode

# nnc computes in double; a float32 network's own rounding bounds the difference.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5
# A closed form found by symbolic regression must be this close to the network (Options.gate_max).
GATE_MAX = 5e-2
# Ops that amplify float32 rounding (exp of large values, division near 0) get this much slack.
AMPLIFYING_RTOL = 1e-4


def pass_context(specs: list[InputSpec] | None = None, **options: Any) -> PassContext:
    """A context for calling one pass directly, as the pipeline would build it."""
    opts = make_options(**options)
    return PassContext(Setting(opts, Gate.from_options(opts), specs or [], JitCompiler(opts.cpu)))


def network_output(model: Any, *inputs: np.ndarray) -> np.ndarray:
    """What the network computes at inference (eval mode), as float64."""
    with torch.no_grad(), eval_mode(model):
        return model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]).double().numpy()


def domain_points(specs: list[str], n: int = 256, seed: int = 1) -> list[np.ndarray]:
    points, _ = Domain(parse_inputs(specs)).points(10**6, n, seed)
    return [p[:n] for p in points]


def assert_matches_model(
    callable_: Any,
    model: Any,
    specs: list[str],
    n: int = 256,
    rtol: float = FLOAT32_RTOL,
    atol: float = FLOAT32_ATOL,
) -> None:
    """The compiled callable equals the network on n points of the domain (shape, then values)."""
    points = domain_points(specs, n)
    expected = network_output(model, *points)
    got = np.asarray(callable_(*points), dtype=np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != network's {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
