"""The effect of pruning on the example networks: size, arithmetic and speed, with and without the
prune pass, measured side by side in one run.

    python benchmarks/pruning.py            # about a minute on 2 cores
    python benchmarks/pruning.py --quick

For each network: compile without pruning (fold, lower) and with it, in mode exact (only what
interval bounds prove) and in mode auto (plus removals within the error budget); report
parameters, ops and flops per sample of the compiled graph, the measured error against the
network, and batch throughput of the JIT-compiled code (median of interleaved repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import nnc
import numpy as np
import torch
from nnc.domain import Domain
from nnc.pipeline import flops
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
BATCH = 65_536


def planted_mlp() -> tuple[nn.Module, str]:
    """3→64→64→1 ReLU with 20 units per layer dead on the domain (very negative bias)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )
    with torch.no_grad():
        model[0].bias[:20] = -100.0
        model[2].bias[:20] = -100.0
    return model, "x:float[3]=[1..3, -1..2, 0..1]"


WORKLOADS = {
    "planted dead units (3→64→64→1)": lambda: planted_mlp(),
    "physics MLP (3→64→64→1 tanh)": lambda: (str(ROOT / "examples/physics/model.pt2"), None),
    "sparse L1 ReLU (3→16→16→1)": lambda: (str(ROOT / "examples/sparse/model.pt2"), None),
}
VARIANTS = {  # name → (mode, passes)
    "exact, no prune": ("exact", ("fold", "lower")),
    "exact, prune": ("exact", ("fold", "prune", "lower")),
    "auto, prune": ("auto", ("fold", "prune", "lower")),
}


def throughput(artifact: nnc.Artifact, x: np.ndarray) -> float:
    """ns per sample of one batch call (the JIT's eval_batch on row-major doubles)."""
    start = time.perf_counter()
    artifact._native.run(x)
    return (time.perf_counter() - start) / len(x) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repeats instead of 15")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("pruning.json"))
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    results = []
    for workload, build in WORKLOADS.items():
        model, spec = build()
        inputs = [spec] if spec else None
        artifacts = {}
        for variant, (mode, passes) in VARIANTS.items():
            sys.stderr.write(f"{workload}: compiling {variant}\n")
            artifacts[variant] = nnc.compile(model, inputs, mode=mode, passes=passes)
        (points,), _ = Domain(artifacts["exact, no prune"].specs).points(1, BATCH, 7)
        x = points.reshape(BATCH, -1).astype(np.float64)
        timings: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for round_ in range(repeats):  # interleaved, order rotated each round
            order = (
                list(VARIANTS)[round_ % len(VARIANTS) :] + list(VARIANTS)[: round_ % len(VARIANTS)]
            )
            for variant in order:
                timings[variant].append(throughput(artifacts[variant], x))
        base = statistics.median(timings["exact, no prune"])
        for variant, artifact in artifacts.items():
            median = statistics.median(timings[variant])
            fidelity = artifact.report.fidelity
            results.append(
                {
                    "workload": workload,
                    "variant": variant,
                    "params": artifact.graph.parameter_count(),
                    "ops": artifact.report.graph["ops"],
                    "flops": flops(artifact.graph),
                    "max_rel_error": fidelity.max_rel,
                    "ns_per_sample": median,
                    "speedup": base / median,
                    "repeats": timings[variant],
                    "closed_form": artifact.report.closed_form,
                }
            )
    print(
        f"{'workload':<32} {'variant':<16} {'params':>8} {'ops':>4} {'flops':>8} "
        f"{'max rel err':>11} {'ns/sample':>10} {'speedup':>8}"
    )
    for r in results:
        print(
            f"{r['workload']:<32} {r['variant']:<16} {r['params']:>8,} {r['ops']:>4} "
            f"{r['flops']:>8,} {r['max_rel_error']:>11.1e} {r['ns_per_sample']:>10.1f} "
            f"{r['speedup']:>7.2f}x"
        )
    args.output.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
