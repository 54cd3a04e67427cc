"""Resource limits are checked before nnc allocates, and name the option that raises them; the
memory of an exact compile grows linearly with the model's parameters (slow: large models)."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import nnc
import pytest
import torch
from nnc.limits import check_points
from nnc.options import make_options
from nnc.spec_grammar import parse_inputs
from torch import nn

MEMORY_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "memory.py"
CHECK_BYTES = 1 << 20  # what checking a limit may allocate, whatever the limit guards
# Peak memory of an exact compile beyond the fixed cost of torch and nnc, per parameter: the
# weights in torch (4 B), the GEMMs' packed panels (4 B), their IR text (~12 B, and the string
# it is built from), the LLVM module's and the JIT's copies; measured 97 B between 1 M and 10 M
# parameters with the GEMM kernels (72 B before them; 179 B while every weight was also emitted
# as a plain constant), benchmarks/memory.py, README.
BYTES_PER_PARAMETER = 110
SIZES = (1_000_000, 10_000_000)  # parameters of the two compiles compared


def test_domain_points_beyond_the_limit_are_refused_before_allocation() -> None:
    specs = parse_inputs(["x:float[100000]=0..1"])  # 4096 samples × 100,000 scalars × 24 B
    tracemalloc.start()
    with pytest.raises(nnc.InputError, match="max_points_bytes") as refused:
        check_points(specs, make_options())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < CHECK_BYTES and "--limit max_points_bytes=N" in refused.value.hint
    check_points(specs, make_options(samples=64))  # fewer points fit


def test_a_raised_limit_lets_the_compile_through() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))  # 21 parameters
    with pytest.raises(nnc.InputError, match="max_parameters=20"):
        nnc.compile(model, ["x:float[3]=0..1"], mode="exact", max_parameters=20)
    nnc.compile(model, ["x:float[3]=0..1"], mode="exact", max_parameters=21)


def _peak_mib(parameters: int, folder: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(MEMORY_SCRIPT), str(parameters), "--out", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_exact_compile_memory_grows_linearly_with_parameters(tmp_path: Path) -> None:
    small, large = (_peak_mib(n, tmp_path) for n in SIZES)
    extra = (large["peak_mib"] - small["peak_mib"]) * 2**20
    per_parameter = extra / (large["parameters"] - small["parameters"])
    assert per_parameter <= BYTES_PER_PARAMETER, (small, large)
