"""Fan-out: independent work units (searches per output, unit or module; chunks of an exhaustive
check) run one after another, on a local process pool, or on a Dask cluster, behind one
interface. Results come back in the order of the work units and every unit carries all it needs
(data, options, seeds), so a compile gives the same answer whatever ran it.

Work units travel by pickling: a function defined at module level and plain data — samples,
targets, Options, the Gate, specs, Graphs, the picklable JitCompiler — never a native handle or
the user's torch module (the driver queries the network; workers search and count).

    with open_fanout(options) as fanout:
        results = fanout.map(search_one_unit, units)   # [search_one_unit(u) for u in units]
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from .errors import InputError, MissingDependencyError
from .options import Options

__all__ = [
    "DaskCluster",
    "Fanout",
    "LocalPool",
    "Serial",
    "available_cores",
    "keep_large_arrays_on_the_heap",
    "make_fanout",
    "open_fanout",
]

Item = TypeVar("Item")
Result = TypeVar("Result")

# modules every local worker imports once when it starts (torch comes with them), so their cost
# is paid at start-up, not by the first work unit
WORKER_IMPORTS = ("torch", "nnc.passes", "nnc.native")
# times the cluster engine reruns a work unit that raised (a lost worker is rescheduled anyway)
CLUSTER_RETRIES = 2
CLUSTER_CONNECT_SECONDS = 30
WATCH_SECONDS = 0.5  # how often a worker checks that the compile lives, where pidfd is missing
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
HEAP_ARRAYS_BYTES = 64 << 20


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def keep_large_arrays_on_the_heap() -> None:
    """Called by work units with large arrays, in whatever process runs them. Dask's workers
    start with MALLOC_TRIM_THRESHOLD_ set, which stops glibc from raising its mmap threshold as
    it otherwise does: every array of more than 128 kB is then mapped and unmapped afresh (and
    the heap's top given back). Measured: an exhaustive range 0.48 s -> 0.73 s of thread CPU
    with the variable set, 0.94 s in a Dask worker; a units pass's Fourier task 0.30 s -> 0.49 s.
    In such a process, allocations up to HEAP_ARRAYS_BYTES stay on the heap and that much of its
    top is kept; elsewhere (no variable, or no glibc) nothing changes."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, HEAP_ARRAYS_BYTES)
        mallopt(M_TRIM_THRESHOLD, HEAP_ARRAYS_BYTES)


class Fanout:
    """Runs `function` over work units and returns the results in order; counts what it ran."""

    name = "serial"
    workers = 1

    def __init__(self) -> None:
        self.tasks = 0  # work units run
        self.batches = 0  # map calls that ran
        self.startup_seconds: float | None = None  # time to start the workers, once

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """[function(item) for item in items], run by this fan-out's workers."""
        items = list(items)
        self.tasks += len(items)
        self.batches += 1
        return self._run(function, items)

    def _run(self, function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        return [function(item) for item in items]

    def chunks(self, total: int, least: int = 1) -> int:
        """How many pieces to cut `total` work into: a few per worker (so a slow or lost piece
        costs little), never pieces smaller than `least`."""
        return max(1, min(4 * self.workers, math.ceil(total / max(1, least))))

    def describe(self) -> str:
        started = (
            f", started in {self.startup_seconds:.2f} s" if self.startup_seconds is not None else ""
        )
        return f"{self.name} ({self.workers} worker{'s' * (self.workers != 1)}{started})"

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "workers": self.workers,
            "startup_seconds": self.startup_seconds,
            "tasks": self.tasks,
        }

    def close(self) -> None:
        """Stop the workers this fan-out started (none for a serial run)."""


class Serial(Fanout):
    """Every work unit in this process, in order."""


class LocalPool(Fanout):
    """A pool of worker processes on this machine, started on the first map with more than one
    work unit and kept until close(); each worker imports torch and nnc once."""

    name = "local"

    def __init__(self, workers: int) -> None:
        super().__init__()
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _run(self, function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        if len(items) <= 1:
            return [function(item) for item in items]
        pool = self._started()
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:  # an error, Ctrl-C or SIGTERM: stop every worker, as serial would
            for future in futures:
                future.cancel()
            self._terminate()
            raise

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        start = time.perf_counter()
        # NOTE: forkserver, not fork: a forked copy of a process that runs LLVM, torch and operon
        # threads can deadlock. The server is a fresh interpreter that imports torch and nnc once
        # (and lives as long as this process, so a later compile's pool starts at fork speed);
        # it exits when its workers have, and they exit when this process does (_die_with).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(WORKER_IMPORTS))
        barrier = context.Barrier(self.workers)
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_worker_setup,
            initargs=(barrier, os.getpid()),
        )
        # every worker must be up: each warm-up waits at the barrier until all have arrived
        list(self._pool.map(_meet, range(self.workers)))
        self.startup_seconds = time.perf_counter() - start
        return self._pool

    def _terminate(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # NOTE: ProcessPoolExecutor has no public kill before Python 3.14 (terminate_workers)
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_barrier: Any = None


def _worker_setup(barrier: Any, compile_pid: int) -> None:
    """In each local worker: die with the compiling process, leave Ctrl-C to it, one thread for
    torch (the pool is the parallelism), and the heavy imports done once."""
    global _barrier
    _barrier = barrier
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(compile_pid)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import importlib

    for module in WORKER_IMPORTS:
        importlib.import_module(module)
    import torch

    torch.set_num_threads(1)


def _die_with(pid: int) -> None:
    """Exit as soon as process `pid` ends, however it ends (SIGKILL included).

    NOTE: a worker's parent is the fork server, which itself waits for its workers to exit
    before it does, so neither the parent-death signal nor the server can end a worker whose
    compile was killed: each worker watches the compiling process itself."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (not Linux ≥ 5.3): poll instead
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(pid):
                time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="nnc-die-with-compile", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _meet(_: int) -> int:
    """A warm-up work unit: returns once every worker has started and reached it."""
    _barrier.wait()
    return os.getpid()


class DaskCluster(Fanout):
    """A Dask.distributed cluster at `address` (tcp://host:port of its scheduler): the engine
    schedules the work units, moves their data, and reruns those a lost worker held."""

    name = "dask"

    def __init__(self, address: str) -> None:
        super().__init__()
        try:
            from distributed import Client
        except ImportError as error:
            raise MissingDependencyError(
                "a cluster needs dask.distributed, which is not installed",
                hint="pip install 'nnc[cluster]' (here and on every worker of the cluster)",
            ) from error
        start = time.perf_counter()
        try:
            self._client = Client(address, timeout=CLUSTER_CONNECT_SECONDS)
        except OSError as error:
            raise InputError(
                f"cannot reach a Dask scheduler at {address!r}: {error}",
                hint="start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) "
                "and pass its address, e.g. --cluster tcp://10.0.0.5:8786",
            ) from error
        try:
            self._client.wait_for_workers(1, timeout=CLUSTER_CONNECT_SECONDS)
        except TimeoutError as error:
            self._client.close()
            raise InputError(
                f"the Dask scheduler at {address!r} has no workers",
                hint="start workers with `dask worker ADDRESS` (with nnc installed)",
            ) from error
        self.address = address
        self.workers = self._threads()
        self.startup_seconds = time.perf_counter() - start

    def _threads(self) -> int:
        workers = self._client.scheduler_info(n_workers=-1)["workers"].values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))

    def _run(self, function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        from distributed import as_completed

        # NOTE: results are fetched as tasks finish, not all after the last one: gather() waits for
        # every task, then unpickled the units pass's 8 lists of formulas in a row (0.5 s)
        futures = self._client.map(function, items, pure=False, retries=CLUSTER_RETRIES)
        position = {future.key: index for index, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        try:
            for future, result in as_completed(futures, with_results=True):
                results[position[future.key]] = result
        except BaseException:
            self._client.cancel(futures)
            raise
        return results

    def describe(self) -> str:
        return f"dask at {self.address} ({self.workers} worker threads, connected in " + (
            f"{self.startup_seconds:.2f} s)"
        )

    def close(self) -> None:
        self._client.close()


def make_fanout(options: Options) -> Fanout:
    """The fan-out the options ask for: the cluster, one process, or a local pool (default:
    one worker per core)."""
    if options.cluster:
        return DaskCluster(options.cluster)
    workers = options.workers or available_cores()
    return Serial() if workers == 1 else LocalPool(workers)


@contextlib.contextmanager
def open_fanout(options: Options) -> Iterator[Fanout]:
    """A fan-out for one compile, closed (its workers stopped) however the compile ends."""
    fanout = make_fanout(options)
    try:
        yield fanout
    finally:
        fanout.close()
