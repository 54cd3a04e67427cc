"""Build and call the C timing driver (driver.c.in) for one library with the nnc C ABI.

The driver is a shared object linked against the library, the way a C program would link it, and
loaded with ctypes: Python only starts each timing loop, which runs and times itself in C.
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from string import Template

import numpy as np
from nnc.backends.abi import Abi

from .measure import c_clock

__all__ = ["CFLAGS", "ROW_DTYPES", "Driver", "compile_shared", "render"]

CFLAGS = ("-O3", "-march=native", "-fPIC", "-shared")
_TEMPLATE = Path(__file__).with_name("driver.c.in")
_SCALAR = Template("""
$result ${prefix}($params);

/* ns per call of the scalar entry ${prefix}(...), arguments cycling through the first m samples
 * of x, converted to the entry's types before the clock starts; y[j] gets each result. */
double bench_scalar(int64_t m, const double *x, double *y, int64_t calls) {
$allocate    double start = now_ns();
    for (int64_t i = 0, j = 0; i < calls; i++, j = j + 1 == m ? 0 : j + 1)
        y[j * OUTPUT_SIZE] = (double)${prefix}($arguments);
    double elapsed = now_ns() - start;
$release    return elapsed / (double)calls;
}
""")


_TYPED = Template("""
int ${prefix}_eval_${rows}(const $x_type *x, $y_type *y);
int ${prefix}_eval_batch_${rows}(int64_t n, const $x_type *x, $y_type *y);

/* The typed row entries: ns per call of ${prefix}_eval_batch_${rows}(n, x, y). */
double bench_typed_batch(int64_t n, const void *x, void *y, int64_t calls) {
    double start = now_ns();
    for (int64_t i = 0; i < calls; i++) ${prefix}_eval_batch_${rows}(n, x, y);
    return (now_ns() - start) / (double)calls;
}

/* ns per call of ${prefix}_eval_${rows} on one sample, cycling through the first m samples. */
double bench_typed_eval(int64_t m, const void *x, void *y, int64_t calls) {
    const $x_type *rows = x;
    $y_type *out = y;
    double start = now_ns();
    for (int64_t i = 0, j = 0; i < calls; i++, j = j + 1 == m ? 0 : j + 1)
        ${prefix}_eval_${rows}(rows + j * INPUT_SIZE, out + j * OUTPUT_SIZE);
    return (now_ns() - start) / (double)calls;
}
""")
_THREADS = Template("""
int ${prefix}_eval_batch_threads(int64_t n, const double *x, double *y, int32_t threads);

/* Elapsed ns per call of ${prefix}_eval_batch_threads(n, x, y, threads): always the wall clock
 * (threads running at once are what it measures). */
double bench_threads(int64_t n, const double *x, double *y, int64_t calls, int32_t threads) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t i = 0; i < calls; i++) ${prefix}_eval_batch_threads(n, x, y, threads);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / calls;
}
""")
_C_ROW_TYPES = {"f32": "float", "f64": "double", "i64": "int64_t"}
ROW_DTYPES = {"f32": np.float32, "f64": np.float64, "i64": np.int64}


def compile_shared(source: Path, output: Path, *libraries: Path) -> Path:
    """cc -O3 -march=native -shared `source` [libraries] -o `output` (rpath to the libraries);
    timing loops read the run's clock, BENCH_CLOCK."""
    command = ["cc", *CFLAGS, f"-DBENCH_CLOCK={c_clock()}", str(source), "-o", str(output)]
    for library in libraries:
        command += [str(library.resolve()), f"-Wl,-rpath,{library.resolve().parent}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[:2000]}")
    return output


class Driver:
    """The timing loops of one library: each returns ns per call and leaves outputs in y. With
    `entries` (an nnc library, not a hand-written one), the typed row and threaded entries too."""

    def __init__(self, library: Path, abi: Abi, workdir: Path, entries: bool = False) -> None:
        self.abi = abi
        self.rows = abi.rows if entries else None
        self.threaded = entries
        source = workdir / f"bench_{abi.prefix}.c"
        source.write_text(render(abi, entries))
        self._dll = ctypes.CDLL(
            str(compile_shared(source, workdir / f"bench_{abi.prefix}.so", library))
        )
        signature = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        names = ["bench_batch", "bench_eval"] + (["bench_scalar"] if self.has_scalar else [])
        names += ["bench_typed_batch", "bench_typed_eval"] if self.rows else []
        for name in names:
            function = getattr(self._dll, name)
            function.argtypes, function.restype = signature, ctypes.c_double
        if self.threaded:
            self._dll.bench_threads.argtypes = signature + [ctypes.c_int32]
            self._dll.bench_threads.restype = ctypes.c_double

    @property
    def has_scalar(self) -> bool:
        return self.abi.scalar_args is not None

    def row_dtypes(self) -> tuple[type, type]:
        """numpy dtypes of the typed entries' x and y."""
        assert self.rows is not None
        x_kind, _, y_kind = self.rows.partition("_")
        return ROW_DTYPES[x_kind], ROW_DTYPES[y_kind or x_kind]

    def typed_batch(self, x: np.ndarray, y: np.ndarray, calls: int) -> float:
        return self._dll.bench_typed_batch(len(x), x.ctypes.data, y.ctypes.data, calls)

    def typed_eval(self, m: int, x: np.ndarray, y: np.ndarray, calls: int) -> float:
        return self._dll.bench_typed_eval(m, x.ctypes.data, y.ctypes.data, calls)

    def threads(self, x: np.ndarray, y: np.ndarray, calls: int, threads: int) -> float:
        return self._dll.bench_threads(len(x), x.ctypes.data, y.ctypes.data, calls, threads)

    def batch(self, x: np.ndarray, y: np.ndarray, calls: int) -> float:
        return self._dll.bench_batch(len(x), x.ctypes.data, y.ctypes.data, calls)

    def eval(self, m: int, x: np.ndarray, y: np.ndarray, calls: int) -> float:
        return self._dll.bench_eval(m, x.ctypes.data, y.ctypes.data, calls)

    def scalar(self, m: int, x: np.ndarray, y: np.ndarray, calls: int) -> float:
        return self._dll.bench_scalar(m, x.ctypes.data, y.ctypes.data, calls)


def render(abi: Abi, entries: bool = False) -> str:
    """The driver's C source for this ABI (the scalar loop only when the scalar entry exists; the
    typed and threaded loops for an nnc library, `entries`)."""
    extra = ""
    if entries and abi.rows is not None:
        x_kind, _, y_kind = abi.rows.partition("_")
        extra += _TYPED.substitute(
            prefix=abi.prefix,
            rows=abi.rows,
            x_type=_C_ROW_TYPES[x_kind],
            y_type=_C_ROW_TYPES[y_kind or x_kind],
        )
    if entries:
        extra += _THREADS.substitute(prefix=abi.prefix)
    return Template(_TEMPLATE.read_text()).substitute(
        prefix=abi.prefix,
        input_size=abi.input_numel,
        output_size=abi.output.numel,
        scalar=(_scalar_loop(abi) if abi.scalar_args is not None else "") + extra,
    )


def _scalar_loop(abi: Abi) -> str:
    args = abi.scalar_args or ()
    types = [a.c_type for a in args]
    allocate = "".join(
        f"    {t} *a{k} = malloc((size_t)m * sizeof *a{k});\n"
        f"    for (int64_t j = 0; j < m; j++) a{k}[j] = ({t})x[j * INPUT_SIZE + {a.position}];\n"
        for k, (t, a) in enumerate(zip(types, args))
    )
    return _SCALAR.substitute(
        prefix=abi.prefix,
        result=abi.scalar_result,
        params=", ".join(f"{t} {a.name}" for t, a in zip(types, args)) or "void",
        allocate=allocate,
        arguments=", ".join(f"a{k}[j]" for k in range(len(args))),
        release="".join(f"    free(a{k});\n" for k in range(len(args))),
    )
