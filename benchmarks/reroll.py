"""What re-rolling buys a faithful compile of a recurrent network: code size, compile time and
speed of the same model compiled unrolled (fold, prune, lower) and re-rolled (fold, reroll, prune,
lower), both in mode exact, interleaved.

    python benchmarks/reroll.py            # about 15 minutes on 2 busy cores
    python benchmarks/reroll.py --quick    # one repeat

For each model: ops of the compiled graph, LLVM IR before and after optimisation (characters),
`.so` size, seconds of nnc.compile (trace, reference run, passes, JIT, verification) and of
Artifact.save (object code and link), and samples per second of the JIT-compiled batch entry on
4096 strings. Medians over the repeats, which alternate between the two ways.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nnc
import numpy as np
import torch
from nnc.ops import Op
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
LENGTH = 12
SPEC = f"s:int[{LENGTH}]={{0,1}}"
WAYS = {"unrolled": "fold,prune,lower", "re-rolled": "fold,reroll,prune,lower"}


class Recurrent(nn.Module):
    def __init__(self, kind: str, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 8)
        self.rnn = getattr(nn, kind)(8, 32, num_layers=layers, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out[:, -1])


MODELS = {"GRU 32": ("GRU", 1), "LSTM 32": ("LSTM", 1), "GRU 32 × 2 layers": ("GRU", 2)}


def measure(model: nn.Module, passes: str) -> dict[str, float]:
    start = time.perf_counter()
    artifact = nnc.compile(model, [SPEC], mode="exact", passes=passes)
    compiled = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        library = artifact.save(Path(folder) / "m.so")
        saved = time.perf_counter() - start
        size = library.stat().st_size
    batch = np.random.default_rng(0).integers(0, 2, size=(4096, LENGTH))
    start = time.perf_counter()
    artifact(batch)
    rate = len(batch) / (time.perf_counter() - start)
    return {
        "ops": sum(1 for n in artifact.graph.nodes() if n.op not in (Op.INPUT, Op.CONST)),
        "scan": any(n.op is Op.SCAN for n in artifact.graph.nodes()),
        "ir_chars": len(artifact.llvm_ir()),
        "optimised_ir_chars": len(artifact.llvm_ir(optimized=True)),
        "so_bytes": size,
        "compile_s": compiled,
        "save_s": saved,
        "samples_per_s": rate,
    }


def main(repeats: int) -> dict:
    torch.manual_seed(0)
    results: dict = {}
    for name, (kind, layers) in MODELS.items():
        model = Recurrent(kind, layers).eval()
        runs: dict[str, list[dict]] = {way: [] for way in WAYS}
        for _ in range(repeats):
            for way, passes in WAYS.items():
                runs[way].append(measure(model, passes))
        results[name] = {
            way: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            for way, rows in runs.items()
        }
        print_rows(name, results[name])
    return results


def print_rows(name: str, ways: dict) -> None:
    for way, m in ways.items():
        print(
            f"| {name} | {way} | {m['ops']:.0f} | {m['ir_chars'] / 1e3:.0f} k | "
            f"{m['optimised_ir_chars'] / 1e3:.0f} k | {m['so_bytes'] / 1e3:.0f} kB | "
            f"{m['compile_s']:.1f} s | {m['save_s']:.1f} s | {m['samples_per_s'] / 1e3:.0f} k/s |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat instead of three")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| model | compiled | ops | LLVM IR | optimised IR | .so | nnc.compile | save | "
        "batch throughput |\n|---|---|---|---|---|---|---|---|---|"
    )
    out = main(1 if args.quick else 3)
    (ROOT / "benchmarks" / "reroll.json").write_text(json.dumps(out, indent=2) + "\n")
