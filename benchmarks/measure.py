"""Interleaved timing: each round measures every probe once, in an order rotated by one every round
and reversed every other round, so that drift (frequency scaling, a noisy neighbour) hits every
runtime alike instead of whichever ran last, and no probe always runs right after the same other
one (whose data it would find in cache).

A probe's timer runs `k` calls and returns nanoseconds per call; calibration picks `k` so that one
repeat lasts about the requested time, and each repeat becomes one raw figure per sample.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLOCKS",
    "Probe",
    "Timer",
    "c_clock",
    "calibrate",
    "clock_ns",
    "run_rounds",
    "summarize",
    "use_clock",
]

Timer = Callable[[int], float]  # k calls → ns per call
_MAX_CALLS = 10**8
# what every timer of a run reads: elapsed time, or this thread's CPU time (user + system), which
# leaves out the time a shared machine gives to other processes; (Python clock, C clock id)
CLOCKS = {
    "wall": (time.perf_counter_ns, "CLOCK_MONOTONIC"),
    "cpu": (time.thread_time_ns, "CLOCK_THREAD_CPUTIME_ID"),
}
_chosen = ["wall"]  # one clock per run, set once before any timer is built (like torch's threads)


def use_clock(name: str) -> None:
    """Choose the clock of every Python timer and of every C loop compiled from now on."""
    if name not in CLOCKS:
        raise ValueError(f"clock {name!r}: choose one of {', '.join(CLOCKS)}")
    _chosen[0] = name


def clock_ns() -> int:
    return CLOCKS[_chosen[0]][0]()


def c_clock() -> str:
    """The clock id the C loops read (they are compiled with -DBENCH_CLOCK=<it>)."""
    return CLOCKS[_chosen[0]][1]


@dataclass
class Probe:
    """One timed quantity: a runtime's single-sample call, or its call on a batch of `samples`."""

    runtime: str
    kind: str  # "single" (ns/call) or "batch" (ns/sample)
    timer: Timer
    samples: int  # samples per call: 1 for single, the batch size for batch
    calls: int = 1  # calls per repeat, from calibrate


def calibrate(timer: Timer, seconds: float) -> int:
    """Calls per repeat so that one repeat takes about `seconds` (timeit's autorange, by 10s)."""
    calls = 1
    while True:
        ns = max(timer(calls), 1e-3)
        if ns * calls >= seconds * 1e8 or calls >= _MAX_CALLS:  # a tenth of the target: enough
            return int(min(_MAX_CALLS, max(1, round(seconds * 1e9 / ns))))
        calls *= 10


def run_rounds(
    probes: list[Probe], repeats: int, log: Callable[[str], None]
) -> dict[tuple[str, str], list[float]]:
    """`repeats` rounds over all probes; returns (runtime, kind) → raw figures, one per round."""
    raw: dict[tuple[str, str], list[float]] = {(p.runtime, p.kind): [] for p in probes}
    gc.collect()
    gc.disable()  # a collection inside one repeat would charge one runtime for another's garbage
    try:
        for round_ in range(repeats):
            start = time.perf_counter()
            shift = round_ % len(probes) if probes else 0
            order = probes[shift:] + probes[:shift]
            for probe in order if round_ % 2 == 0 else reversed(order):
                raw[probe.runtime, probe.kind].append(probe.timer(probe.calls) / probe.samples)
            gc.collect()
            log(f"    round {round_ + 1}/{repeats}: {time.perf_counter() - start:.1f} s")
    finally:
        gc.enable()
    return raw


def summarize(figures: list[float], unit: str) -> dict[str, Any]:
    """Median and quartiles of the raw repeats (kept too, so any figure can be recomputed)."""
    if len(figures) >= 2:
        q1, median, q3 = statistics.quantiles(figures, n=4, method="inclusive")
    else:
        q1 = median = q3 = figures[0]
    return {
        "unit": unit,
        "median": median,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": min(figures),
        "max": max(figures),
        "repeats": list(figures),
    }
