"""The machine's own limits, measured in the same rounds as each workload's runtimes: multiply-adds
per ns of one core on its widest vectors (float and double), the read bandwidth of a buffer that
fits in L2 but not in L1 — the bound on one sample's latency when its weights stream from L2 — and
of a buffer of the workload's weight bytes: what reading its weights once costs on this machine,
which is more than the L2 bound where they do not fit in L2.

The loops are C (reference/peak.c, built with cc -O3 -march=native) and time themselves, like the
C drivers; /proc/cpuinfo's clock is not used (VMs misreport it).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from .c_driver import compile_shared
from .measure import Probe, summarize

__all__ = ["PEAK_PROBES", "WEIGHTS_READ", "MachinePeak", "l2_bytes"]

_SOURCE = Path(__file__).with_name("reference") / "peak.c"
FMA_F32, FMA_F64, L2_READ = "peak FMA f32", "peak FMA f64", "L2 read"
WEIGHTS_READ = "weights read"
PEAK_PROBES = (FMA_F32, FMA_F64, L2_READ, WEIGHTS_READ)
_DEFAULT_L2 = 1 << 20


def l2_bytes() -> int:
    """This core's L2 size from sysfs (1 MiB when it cannot be read)."""
    caches = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(caches.glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                size = (index / "size").read_text().strip()
                return int(size.rstrip("KkMm")) << (20 if size[-1] in "Mm" else 10)
        except (OSError, ValueError):
            continue
    return _DEFAULT_L2


class MachinePeak:
    """The peak loops of one build: probes to add to a workload's rounds, and their rates."""

    def __init__(self, workdir: Path) -> None:
        library = ctypes.CDLL(str(compile_shared(_SOURCE, workdir / "peak.so")))
        for name in ("peak_fma_f32", "peak_fma_f64", "peak_read", "peak_read_weights"):
            function = getattr(library, name)
            function.argtypes, function.restype = [ctypes.c_int64], ctypes.c_double
        for name in (
            "peak_fma_f32_per_call",
            "peak_fma_f64_per_call",
            "peak_read_bytes_per_call",
            "peak_read_weights_bytes_per_call",
        ):
            getattr(library, name).restype = ctypes.c_int64
        self.buffer_bytes = l2_bytes() // 2  # in L2, eight times L1 or more on common cores
        if library.peak_read_setup(ctypes.c_int64(self.buffer_bytes)) != 0:
            raise MemoryError("cannot allocate the L2 bandwidth buffer")
        self.vector_bytes = library.peak_vector_bytes()
        self._library = library  # the probes' timers call into it
        self.timers = {
            FMA_F32: library.peak_fma_f32,
            FMA_F64: library.peak_fma_f64,
            L2_READ: library.peak_read,
        }
        self.per_call = {  # multiply-adds, or bytes read, per call of each timer
            FMA_F32: library.peak_fma_f32_per_call(),
            FMA_F64: library.peak_fma_f64_per_call(),
            L2_READ: library.peak_read_bytes_per_call(),
        }

    def probes(self, weight_bytes: int) -> list[Probe]:
        """The peak loops for one workload, the weights read sized to its `weight_bytes`."""
        if self._library.peak_read_weights_setup(ctypes.c_int64(weight_bytes)) != 0:
            raise MemoryError("cannot allocate the weights bandwidth buffer")
        self.timers[WEIGHTS_READ] = self._library.peak_read_weights
        self.per_call[WEIGHTS_READ] = self._library.peak_read_weights_bytes_per_call()
        return [Probe(name, "single", timer, 1) for name, timer in self.timers.items()]

    def summarize(self, raw: dict[tuple[str, str], list[float]]) -> dict[str, Any]:
        """MAC/ns of each FMA loop and GB/s of each read, per round, summarised."""
        record: dict[str, Any] = {
            "vector_bytes": self.vector_bytes,
            "l2_buffer_bytes": self.buffer_bytes,
            "weights_buffer_bytes": self.per_call[WEIGHTS_READ],
        }
        for name, quantity in self.per_call.items():
            unit = "GB/s" if name in (L2_READ, WEIGHTS_READ) else "MAC/ns"
            record[name] = summarize([quantity / ns for ns in raw[name, "single"]], unit)
        return record
