"""Fan-out at scale: wall time of the per-unit distillation of the grokking MLP layer and of a
10^8-point exhaustive check, serially, on the local pool and on a Dask cluster of 2 workers on
this machine; speed-ups; and a projection to 8-64 workers from the measured per-task costs.

    python benchmarks/scale.py                  # 3 interleaved repeats, 10^8 points, 512 units
    python benchmarks/scale.py --quick          # 1 repeat, 10^7 points, 128 units
    python benchmarks/scale.py --no-dask        # without the cluster engine

Workers are started before timing (their start-up is measured apart): the figures are the work
itself, as a compile that fans out more than once pays it. Each engine is timed in its own phase,
its runs interleaved with serial runs (the order rotated each round), and its speed-up is against
the serial runs of that phase: only its own workers are alive then. An idle Dask cluster is not
idle (scheduler and worker heartbeats: 0.46 CPU-seconds per 10 s here), and a pool that fills
both cores lost 5-14 % to it when the phases were one. Medians, with the load average next to
them: the machine is shared. Writes benchmarks/scale.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test models, as users build them

import torch
from nnc.api import with_output_head
from nnc.domain import Domain
from nnc.exhaustive import check_exhaustively, range_points
from nnc.fanout import DaskCluster, Fanout, LocalPool, Serial
from nnc.fidelity import Gate
from nnc.frontend import to_graph, trace
from nnc.modelfile import load_model
from nnc.native import JitCompiler
from nnc.options import make_options
from nnc.passes.fourier_forms import FourierWork, Grid, fourier_forms
from nnc.rewrite import remove_dead
from nnc.spec_grammar import parse_inputs
from torch import nn

__all__ = ["main"]

CHECKPOINT = ROOT / "examples" / "grokking" / "modadd.pt2"
PROJECTED_WORKERS = (8, 16, 32, 64)
ENGINES = ("local pool", "dask")


class Wide(nn.Module):
    """An MLP over four integer inputs 0..99 (10^8 points), as a user writes one."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float() / 50 - 1)


def unit_work(units: int, pieces: int) -> list[FourierWork]:
    """The units pass's work units for the first `units` ReLU units of the grokking MLP."""
    loaded = load_model(CHECKPOINT, False)
    specs = parse_inputs(loaded.inputs)
    graph = to_graph(trace(loaded.module, specs), specs)
    domain = Domain(specs)
    flat = domain.enumerate_range(0, domain.size())[0].astype("float64")
    columns = []
    for name in ("add_6", "relu"):  # pre-activation, unit
        probe = graph.copy()
        probe.outputs = [name]
        remove_dead(probe)
        columns.append(JitCompiler()(probe, specs, "raw").run(flat).reshape(len(flat), -1).T)
    fitted, values = (c[:units] for c in columns)
    grid = Grid(("a", "b"), (0, 0), (113, 113))
    bounds = [units * k // pieces for k in range(pieces + 1)]
    return [
        FourierWork.packed(grid, a, fitted[a:b], values[a:b], True, Gate())
        for a, b in itertools.pairwise(bounds)
    ]


def exhaustive_job(points: int) -> Callable[[Fanout], Any]:
    """A check of a perturbed network against the network on every point of its domain."""
    side = round(points ** (1 / 4))
    spec = f"x:int[4]=0..{side - 1}"
    specs = parse_inputs([spec])
    options = make_options(output="argmax", mode="exact")
    graphs = [
        with_output_head(to_graph(trace(Wide(seed), specs), specs), options.output)
        for seed in (0, 1)
    ]
    gate = Gate.from_options(options)
    return lambda fanout: check_exhaustively(
        graphs[1], graphs[0], specs, JitCompiler(), options, gate, True, fanout
    )


def interleaved(
    jobs: dict[str, Callable[[], Any]], repeats: int, log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Median wall time of each job over `repeats` rounds, the order rotated every round, with
    the 1-minute load average before each run; the results must agree across jobs."""
    names = list(jobs)
    times: dict[str, list[float]] = {n: [] for n in names}
    loads: dict[str, list[float]] = {n: [] for n in names}
    results: dict[str, Any] = {}
    for round_ in range(repeats):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            loads[name].append(os.getloadavg()[0])
            start = time.perf_counter()
            results[name] = jobs[name]()
            times[name].append(time.perf_counter() - start)
            log(f"  {name}: {times[name][-1]:.2f} s (load {loads[name][-1]:.1f})")
    reference = results[names[0]]
    for name in names[1:]:
        assert results[name] == reference, f"{name} computed something else than {names[0]}"
    return {
        n: {"median_s": statistics.median(times[n]), "runs_s": times[n], "load": loads[n]}
        for n in names
    }


def projection(serial: float, tasks: int, measured: dict[str, Any], engine: str) -> dict:
    """Wall time on W workers: ceil(tasks / W) rounds of the mean task, plus the engine's
    overhead per task measured here (its time on 2 workers beyond serial / 2)."""
    per_task = serial / tasks
    two = measured[engine]["median_s"]
    overhead = max(0.0, (two - math.ceil(tasks / 2) * per_task) / math.ceil(tasks / 2))
    return {
        "per_task_s": per_task,
        "overhead_per_task_s": overhead,
        "workers": {
            str(w): math.ceil(tasks / w) * (per_task + overhead) for w in PROJECTED_WORKERS
        },
    }


def phase(
    engine: str,
    fanout: Fanout,
    jobs: dict[str, Callable[[Fanout], Any]],
    record: dict[str, Any],
    repeats: int,
    log: Callable[[str], None],
) -> None:
    """Time every job on `fanout` and serially, interleaved, while only this engine's workers are
    alive; record both and the engine's speed-up over the serial runs beside it."""
    serial = Serial()
    for job, run in jobs.items():
        log(f"{job} on {engine}:")
        timed = interleaved(
            {"serial": lambda r=run: r(serial), engine: lambda r=run: r(fanout)}, repeats, log
        )
        timed[engine]["speedup"] = timed["serial"]["median_s"] / timed[engine]["median_s"]
        record[job][f"serial beside {engine}"] = timed["serial"]
        record[job][engine] = timed[engine]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 10^7 points, 128 units")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--points", type=int, help="exhaustive check size (default 10^8)")
    parser.add_argument("--units", type=int, help="grokking units to distil (default 512)")
    parser.add_argument("--no-dask", action="store_true", help="skip the cluster engine")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "scale.json"))
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    points = args.points or (10**7 if args.quick else 10**8)
    units = args.units or (128 if args.quick else 512)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    pool = LocalPool(2)
    pool.map(abs, [0, 1])  # start the workers, timed by the pool itself
    record: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "load_at_start": os.getloadavg()},
        "startup_s": {"local pool (2 workers)": pool.startup_seconds},
    }
    work = unit_work(units, Serial().chunks(units, 8) * 2)
    task_mb = len(pickle.dumps(work[0], protocol=pickle.HIGHEST_PROTOCOL)) / 1e6
    log(
        f"per-unit distillation of {units} grokking MLP units ({len(work)} work units of "
        f"{task_mb:.1f} MB pickled; unit values derived in the worker: "
        f"{all(w.values is None for w in work)})"
    )
    check = exhaustive_job(points)
    jobs: dict[str, Callable[[Fanout], Any]] = {
        "units": lambda fanout: fanout.map(fourier_forms, work),
        "exhaustive": check,
    }
    record["units"] = {"tasks": len(work), "task_mb": task_mb}
    record["exhaustive"] = {"points": points}
    try:
        phase("local pool", pool, jobs, record, repeats, log)
    finally:
        pool.close()
    if not args.no_dask:
        from distributed import LocalCluster

        start = time.perf_counter()
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
        try:
            dask = DaskCluster(cluster.scheduler_address)
            record["startup_s"]["dask LocalCluster + connect (2 workers)"] = (
                time.perf_counter() - start
            )
            try:
                phase("dask", dask, jobs, record, repeats, log)
            finally:
                dask.close()
        finally:
            cluster.close()
    ranges = math.ceil(points / range_points(points))
    for job in jobs:
        figures = record[job]
        tasks = figures.get("tasks") or ranges
        figures["projection"] = {
            engine: projection(
                figures[f"serial beside {engine}"]["median_s"], tasks, figures, engine
            )
            for engine in ENGINES
            if engine in figures
        }
    record["machine"]["load_at_end"] = os.getloadavg()
    Path(args.output).write_text(json.dumps(record, indent=2, default=str))
    print(render(record))
    return 0


def render(record: dict[str, Any]) -> str:
    lines = [f"start-up: {record['startup_s']}"]
    for job in ("units", "exhaustive"):
        figures = record[job]
        lines.append(f"{job}:")
        for engine in ENGINES:
            if engine in figures:
                serial, f = figures[f"serial beside {engine}"], figures[engine]
                lines.append(
                    f"  {engine:<11} {f['median_s']:8.2f} s against serial "
                    f"{serial['median_s']:.2f} s: ×{f['speedup']:.2f}  (load "
                    f"{statistics.median(f['load']):.1f}, {statistics.median(serial['load']):.1f})"
                )
        for engine, p in figures["projection"].items():
            shown = ", ".join(f"{w}: {t:.1f} s" for w, t in p["workers"].items())
            lines.append(
                f"  projected on {engine} (task {p['per_task_s']:.3f} s + overhead "
                f"{p['overhead_per_task_s']:.3f} s): {shown}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
