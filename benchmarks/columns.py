"""The typed column entry NAME_batch_i32 from C, against hand-written C column loops (issue 7).

Every loop reads the same pairs as native columns (int32 or int64 arrays; each loop writes its own
output array) at two sizes: pairs that stay in cache, and pairs that stream from memory. The
timing loop (column_driver.c) runs in C; Python only starts it, as with c_driver.py's loops. The
entry exists only when nnc proved int32 lanes suffice, so the header is read first.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .analysis import COLUMN_KINDS, ENTRY, column_ratios
from .c_driver import compile_shared
from .measure import Probe, Timer, calibrate, run_rounds, summarize
from .workloads import ColumnReference

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["run_columns"]

_DRIVER = Path(__file__).with_name("column_driver.c")
_DTYPES = {"i32": np.int32, "i64": np.int64}
_PAGE = 4096


def run_columns(
    library: Path,
    prefix: str,
    reference: ColumnReference,
    settings: Settings,
    workdir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Check every loop's output, time them in interleaved rounds; ns/sample, GB/s and ratios.
    A record with only `skipped` when the header (beside the library) declares no int32 entry."""
    entry = f"{prefix}_batch_i32"
    if entry not in library.with_suffix(".h").read_text():
        return {"skipped": f"no {entry} in {prefix}.h: int32 lanes not proven to suffice"}
    hand = ctypes.CDLL(
        str(compile_shared(reference.source, workdir / f"{reference.source.stem}.so"))
    )
    loops = [(ENTRY, entry, _address(ctypes.CDLL(str(library)), entry), "i32")]
    loops += [(label, symbol, _address(hand, symbol), t) for label, symbol, t in reference.loops]
    bench = ctypes.CDLL(str(compile_shared(_DRIVER, workdir / "column_driver.so"))).bench_columns
    bench.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int64,
    ]
    bench.restype = ctypes.c_double
    pairs = dict(zip(COLUMN_KINDS, settings.columns))
    probes: list[Probe] = []
    checks: dict[str, dict[str, float]] = {label: {} for label, *_ in loops}
    for size, n in pairs.items():
        columns = reference.columns(n)
        expected = reference.expected(*columns)
        typed = {t: [_page_aligned(c, dtype) for c in columns] for t, dtype in _DTYPES.items()}
        for label, _, address, t in loops:
            out = _page_aligned(np.zeros(n, dtype=_DTYPES[t]), _DTYPES[t])
            timer = _timer(bench, address, typed[t], out)
            timer(1)
            checks[label][size] = float(np.mean(out != expected))
            probes.append(Probe(label, size, timer, n))
    log(f"typed column entry {entry}: calibrating {len(probes)} timers")
    for probe in probes:
        probe.calls = calibrate(probe.timer, settings.batch_seconds)
    log(f"typed column entry {entry}: timing {settings.repeats} interleaved rounds")
    raw = run_rounds(probes, settings.repeats, log)
    record = {
        "entry": entry,
        "pairs": pairs,
        "runtimes": {
            label: {"symbol": symbol, **_summary(label, t, raw, probes, checks[label], pairs)}
            for label, symbol, _, t in loops
        },
    }
    record["ratios"] = column_ratios(record)
    return record


def _page_aligned(values: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """A copy starting on a page boundary, for inputs and outputs alike: where malloc puts the
    arrays moves a loop's speed by up to 20 % (measured), so every loop gets the same layout."""
    size = len(values) * np.dtype(dtype).itemsize
    buffer = np.empty(size + _PAGE, dtype=np.uint8)
    start = -buffer.ctypes.data % _PAGE
    aligned = buffer[start : start + size].view(dtype)
    aligned[:] = values
    return aligned


def _address(library: ctypes.CDLL, symbol: str) -> int | None:
    return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value


def _timer(
    bench: Callable[..., float], address: int | None, columns: list[np.ndarray], out: np.ndarray
) -> Timer:
    """k calls of the two-column entry at `address`, timed by the C loop: ns per call. The closure
    holds the arrays, so their memory lives as long as the timer."""
    a, b = columns
    return lambda calls: bench(
        address, len(out), a.ctypes.data, b.ctypes.data, out.ctypes.data, calls
    )


def _summary(
    label: str,
    t: str,
    raw: dict[tuple[str, str], list[float]],
    probes: list[Probe],
    check: dict[str, float],
    pairs: dict[str, int],
) -> dict[str, Any]:
    """One loop's figures per size; GB/s from the median (a and b read, out written)."""
    width = 3 * np.dtype(_DTYPES[t]).itemsize
    summaries = {size: summarize(raw[label, size], "ns/sample") for size in pairs}
    return {
        "type": t,
        "bytes_per_pair": width,
        **summaries,
        "gb_per_s": {size: width / s["median"] for size, s in summaries.items()},
        "calls_per_repeat": {p.kind: p.calls for p in probes if p.runtime == label},
        "check": check,
    }
