"""Peak memory of an exact compile (nnc.compile + save) of an MLP with a given parameter count.

    python benchmarks/memory.py 3000000 [--out DIR]     # prints parameters, seconds, peak RSS

Run one size per process: the peak resident set (ru_maxrss) of the process is the figure, so
sizes must not share one. tests/test_resources.py runs it at two sizes (slow) and checks that
the memory per parameter does not grow with the model.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

WIDTH_INPUTS = 64  # the MLP: 64 inputs → hidden × hidden ... → 1, three hidden layers


def mlp(parameters: int) -> object:
    """A float32 MLP with about `parameters` weights: 64 → h → h → h → 1."""
    import torch

    # 2 h^2 + (64 + 1 + 3 + 1) h + 1 = parameters
    hidden = int((-(WIDTH_INPUTS + 5) + math.sqrt((WIDTH_INPUTS + 5) ** 2 + 8 * parameters)) / 4)
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(WIDTH_INPUTS, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, 1),
    )


def measure(parameters: int, out: Path) -> dict[str, float]:
    """Compile and save the MLP exactly; the parameter count, seconds and peak RSS in MiB."""
    import nnc

    model = mlp(parameters)
    count = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    artifact = nnc.compile(
        model, [f"x:float[{WIDTH_INPUTS}]=-1..1"], mode="exact", samples=256, max_parameters=10**9
    )
    artifact.save(out / "mlp.so")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"parameters": count, "seconds": round(seconds, 1), "peak_mib": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parameters", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.out:
        print(json.dumps(measure(args.parameters, args.out)))
        return
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure(args.parameters, Path(folder))))


if __name__ == "__main__":
    sys.exit(main())
