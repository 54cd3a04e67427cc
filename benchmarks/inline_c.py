"""The inline closed form NAME_inline (from the generated header) in a C loop, against the same
expression written by hand in the same program (issue 12).

Both loops live in one translation unit (inline_driver.c.in) that includes the header and the
workload's hand-written C (reference/*.c, whose ref_NAME the compiler can inline too), built with
cc -O3 -march=native; they read the same argument columns, drawn like the workload's samples, each
writes its own output, checked against the library. Timed in C, interleaved, as the other loops.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import numpy as np
from nnc.backends.abi import Abi

from .analysis import HAND_INLINE, NNC_INLINE, ratio
from .c_driver import compile_shared
from .measure import Probe, Timer, calibrate, run_rounds, summarize

if TYPE_CHECKING:
    from .settings import Settings
    from .workloads import Reference

__all__ = ["render", "run_inline"]

_TEMPLATE = Path(__file__).with_name("inline_driver.c.in")


def run_inline(
    library: Path,
    abi: Abi,
    reference: Reference,
    rows: np.ndarray,
    expected: np.ndarray,
    settings: Settings,
    workdir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Time NAME_inline and the hand-written function on the columns of `rows` (the ABI's rows),
    check both against `expected` (the library's outputs there). A record with only `skipped`
    when the header beside the library has no inline form."""
    function = abi.inline
    header = library.with_suffix(".h")
    if f" {function}(" not in header.read_text():
        return {"skipped": f"no {function} in {header.name}: not a closed form of scalar arguments"}
    source = workdir / f"inline_{abi.prefix}.c"
    source.write_text(render(abi, header, reference))
    driver = ctypes.CDLL(str(compile_shared(source, workdir / f"inline_{abi.prefix}.so")))
    args = abi.scalar_args or ()
    columns = [
        np.ascontiguousarray(rows[:, a.position], dtype=np.int64 if a.integer else np.float64)
        for a in args
    ]
    table = (ctypes.c_void_p * len(columns))(*[c.ctypes.data for c in columns])
    result_type = np.int64 if abi.output_integer else np.float64
    loops = {NNC_INLINE: driver.bench_inline, HAND_INLINE: driver.bench_hand}
    probes, checks = [], {}
    for label, loop in loops.items():
        loop.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        loop.restype = ctypes.c_double
        out = np.zeros(len(rows), dtype=result_type)
        timer = _timer(loop, table, out)
        timer(1)
        checks[label] = _check(out, expected, abi.output_integer)
        probes.append(Probe(label, "batch", timer, len(rows)))
    log(f"inline form {function}: calibrating and timing {settings.repeats} interleaved rounds")
    for probe in probes:
        probe.calls = calibrate(probe.timer, settings.batch_seconds)
    raw = run_rounds(probes, settings.repeats, log)
    record = {
        "function": function,
        "hand": reference.prefix,
        "samples": len(rows),
        "runtimes": {
            label: {
                "batch": summarize(raw[label, "batch"], "ns/sample"),
                "calls_per_repeat": probe.calls,
                "check": checks[label],
            }
            for label, probe in zip(loops, probes)
        },
    }
    record["ratios"] = [ratio(record, NNC_INLINE, HAND_INLINE, "batch")]
    return record


def render(abi: Abi, header: Path, reference: Reference) -> str:
    """The driver's C source: both loops over the scalar arguments' columns."""
    args = abi.scalar_args or ()
    types = [a.c_type for a in args]
    return Template(_TEMPLATE.read_text()).substitute(
        function=abi.inline,
        hand=reference.prefix,
        header=header.resolve(),
        reference=reference.source.resolve(),
        result=abi.scalar_result,
        unpack="".join(f"    const {t} *a{k} = columns[{k}];\n" for k, t in enumerate(types)),
        arguments=", ".join(f"a{k}[i]" for k in range(len(args))),
    )


def _timer(loop: Callable[..., float], table: Any, out: np.ndarray) -> Timer:
    """k passes of one loop over the columns, timed by the C loop: ns per pass. The closure holds
    the column table and the output, so their memory lives as long as the timer."""
    return lambda calls: loop(len(out), ctypes.addressof(table), out.ctypes.data, calls)


def _check(out: np.ndarray, expected: np.ndarray, integer: bool) -> dict[str, float]:
    """Share of differing results (integer forms) or max |diff| / max |library| (real ones)."""
    expected = expected.astype(out.dtype) if integer else expected
    if integer:
        return {"against": "library", "mismatch_share": float(np.mean(out != expected))}
    scale = float(np.max(np.abs(expected))) or 1.0
    return {"against": "library", "max_rel_diff": float(np.max(np.abs(out - expected))) / scale}
