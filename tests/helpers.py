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
GOLDEN = Path(__file__).resolve().parent / "golden"


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
