"""Benchmark nnc against torch, torch.compile, AOTInductor, ONNX Runtime and hand-written C.

    python benchmarks/run.py            # workloads + scaling sweeps, ≤ 15 min on 2 cores
    python benchmarks/run.py --quick    # workloads only, fewer repeats: about 2.5 min
    python benchmarks/run.py --scaling  # the scaling sweeps only (add --quick for fewer repeats)

Prints one table per workload (and the grokking library's typed column entry against
hand-written C loops), the targets of issues 6 and 7 (met or missed, by how much) and the scaling
table, and writes everything, raw repeats included, to benchmarks/results.json. Progress goes to
stderr. Generated libraries and drivers live in a temporary folder, never in the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

import torch

from benchmarks.analysis import evaluate_targets
from benchmarks.bench import run_workload
from benchmarks.machine import describe_machine
from benchmarks.measure import CLOCKS, use_clock
from benchmarks.peak import MachinePeak
from benchmarks.scaling import run_scaling
from benchmarks.settings import Settings
from benchmarks.tables import (
    columns_table,
    inline_table,
    machine_text,
    scaling_table,
    targets_table,
    workload_table,
)
from benchmarks.workloads import Workload, main_workloads

FULL = Settings(repeats=11, single_seconds=0.05, batch_seconds=0.2)
QUICK = Settings(repeats=5, single_seconds=0.02, batch_seconds=0.05)
RESULTS = Path(__file__).resolve().with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no scaling sweeps")
    parser.add_argument("--scaling", action="store_true", help="run the scaling sweeps only")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="what timers read: elapsed time (default), or this thread's CPU time, which leaves "
        "out other processes' turns on a shared machine",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # every runtime single-threaded: ORT is set to 1 thread as well
    settings = dataclasses.replace(QUICK if args.quick else FULL, clock=args.clock)
    start = time.perf_counter()

    def log(line: str) -> None:
        print(f"{time.perf_counter() - start:7.1f} s  {line}", file=sys.stderr, flush=True)

    log(f"{'quick' if args.quick else 'full'} run: {settings}")
    builders = [] if args.scaling else main_workloads(args.quick)
    results = run(builders, settings, args.scaling or not args.quick, log)
    print(render(results))
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {args.output}")
    return 0


def run(
    builders: list[Callable[[], Workload]],
    settings: Settings,
    scaling: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every workload (built one at a time), the targets and optionally the sweeps, as a dict."""
    start = time.perf_counter()
    use_clock(settings.clock)
    results: dict[str, Any] = {
        "machine": describe_machine(),
        "command": sys.argv,
        "settings": dataclasses.asdict(settings),
        "workloads": [],
        "targets": [],
        "scaling": [],
    }
    with tempfile.TemporaryDirectory(prefix="nnc-bench-") as folder:
        workdir = Path(folder)
        peak = MachinePeak(workdir)  # timed in every workload's rounds
        results["workloads"] = [
            run_workload(build(), settings, workdir, log, peak) for build in builders
        ]
        results["targets"] = evaluate_targets(results["workloads"])
        if scaling:
            results["scaling"] = run_scaling(settings, workdir, log)
    results["seconds"] = time.perf_counter() - start
    return results


def render(results: dict[str, Any]) -> str:
    """Every table of a results dict, in the order the README shows them."""
    parts = [
        f"machine: {machine_text(results['machine'])}",
        (
            f"settings: {results['settings']['repeats']} interleaved repeats, "
            f"{results['settings'].get('clock', 'wall')} clock; times are medians, IQR = q3 - q1 "
            "over repeats; 'x ÷ nnc C' = this runtime's time / nnc C loop's time"
        ),
    ]
    for record in results["workloads"]:
        parts.append(workload_table(record))
        if record["inline"] is not None:
            parts.append(inline_table(record))
        if record["columns"] is not None:
            parts.append(columns_table(record))
    if results["targets"]:
        parts += [
            "== targets (issues 6, 7 and 12), reported, not asserted",
            targets_table(results["targets"]),
        ]
    if results["scaling"]:
        parts += ["== scaling (nnc C loop and torch eager)", scaling_table(results["scaling"])]
    parts.append(f"total {results['seconds']:.0f} s")
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
