"""Assertions every test uses; tolerances live here, named, and nowhere else."""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
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
# Unit roundoff u of each precision: a sum of k products computed in it, in any order, with or
# without fused multiply-adds, is within γ(k) = k·u / (1 - k·u) of the exact sum, relative to the
# sum of the products' magnitudes (Higham, Accuracy and Stability of Numerical Algorithms, §3.1).
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
# The inline float32 exp, tanh and sigmoid (backends/lane_math.py) are within this many units in
# the last place of the exact result (glibc's own float functions promise 1 to 4).
FLOAT32_FUNCTION_ULPS = 3.0
GOLDEN = Path(__file__).resolve().parent / "golden"


def pass_context(specs: list[InputSpec] | None = None, **options: Any) -> PassContext:
    """A context for calling one pass directly, as the pipeline would build it."""
    opts = make_options(**options)
    return PassContext(
        Setting(opts, Gate.from_options(opts), specs or [], JitCompiler(opts.cpu, opts.precision))
    )


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


def assert_within_dot_bound(
    got: np.ndarray, a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, element: str
) -> None:
    """got ≈ a @ b + bias within the rounding bound of its precision: |got - exact| ≤ γ(k + 1) ·
    (|a| @ |b| + |bias|), the exact value computed in long double from the same inputs."""
    wide_a, wide_b = a.astype(np.longdouble), b.astype(np.longdouble)
    shift = np.zeros(b.shape[1], np.longdouble) if bias is None else bias.astype(np.longdouble)
    exact = wide_a @ wide_b + shift
    magnitude = np.abs(wide_a) @ np.abs(wide_b) + np.abs(shift)
    terms = a.shape[1] + 1
    gamma = terms * UNIT_ROUNDOFF[element] / (1 - terms * UNIT_ROUNDOFF[element])
    error = np.abs(got.astype(np.longdouble) - exact)
    worst = np.unravel_index(np.argmax(error - gamma * magnitude), error.shape) if error.size else 0
    assert np.all(error <= gamma * magnitude), (
        f"error {float(error[worst]):.3g} at {worst} exceeds the bound "
        f"{float((gamma * magnitude)[worst]):.3g}"
    )


def assert_golden(name: str, text: str) -> None:
    """`text` equals tests/golden/<name>; NNC_UPDATE_GOLDEN=1 rewrites the file instead (then review
    the diff: a golden file changes only with a change you meant)."""
    path = GOLDEN / name
    text = text.rstrip("\n") + "\n"
    if os.environ.get("NNC_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with NNC_UPDATE_GOLDEN=1 and review it")
    expected = path.read_text()
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), f"golden/{name}", "now", lineterm=""
        )
        pytest.fail(
            f"{name} differs from the golden text (if the change is meant, rerun with "
            "NNC_UPDATE_GOLDEN=1 and review the diff):\n" + "\n".join(diff),
            pytrace=False,
        )


def instructions(library: Path, symbol: str) -> list[str]:
    """The machine instructions of one exported function of a shared library (objdump)."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return listing.split(f"<{symbol}>:")[1].split("\n\n")[0].strip().splitlines()
