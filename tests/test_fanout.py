"""The fan-out: the same results in the same order whatever runs the work units; workers that
die with the compile (errors, Ctrl-C, SIGTERM, SIGKILL of the parent) and leave nothing behind;
clear errors for a missing or unreachable cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from nnc.errors import InputError, MissingDependencyError
from nnc.fanout import DaskCluster, LocalPool, Serial, available_cores, make_fanout
from nnc.options import make_options

ROOT = Path(__file__).resolve().parents[1]


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def refuse(x: int) -> int:
    raise InputError(f"work unit {x} refused")


@pytest.fixture(scope="module")
def pool():
    fanout = LocalPool(2)
    yield fanout
    fanout.close()


def test_a_local_pool_returns_what_a_serial_run_returns_in_order(pool):
    items = list(range(40))
    serial = Serial().map(square_and_pid, items)
    pooled = pool.map(square_and_pid, items)
    assert [r for r, _ in pooled] == [r for r, _ in serial] == [x * x for x in items]
    assert {pid for _, pid in pooled} - {os.getpid()}, "the work ran in worker processes"
    assert pool.startup_seconds is not None and pool.startup_seconds > 0
    assert pool.tasks == 40 and pool.workers == 2


def test_an_error_in_a_worker_reaches_the_caller_as_itself(pool):
    with pytest.raises(InputError, match="work unit 1 refused"):
        pool.map(refuse, [1, 2, 3])
    assert pool.map(square_and_pid, [3, 4])[1][0] == 16, "a pool stopped by an error restarts"


def test_one_work_unit_runs_here_without_starting_workers():
    fanout = LocalPool(2)
    assert fanout.map(square_and_pid, [5]) == [(25, os.getpid())]
    assert fanout.startup_seconds is None
    fanout.close()


def test_options_choose_the_fanout():
    assert isinstance(make_fanout(make_options(workers=1)), Serial)
    local = make_fanout(make_options(workers=3))
    assert isinstance(local, LocalPool) and local.workers == 3
    default = make_fanout(make_options())
    assert default.workers == available_cores()
    with pytest.raises(InputError, match="workers=0 must be at least 1"):
        make_options(workers=0)


def test_chunks_give_each_worker_a_few_pieces_never_tiny_ones():
    assert LocalPool(2).chunks(10**8, 1 << 14) == 8
    assert LocalPool(2).chunks(100, 50) == 2
    assert Serial().chunks(10**6) == 4


def test_a_missing_engine_is_a_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(MissingDependencyError, match="dask.distributed") as caught:
        DaskCluster("tcp://127.0.0.1:1")
    assert "nnc[cluster]" in caught.value.hint


def test_an_unreachable_scheduler_is_an_input_error(monkeypatch):
    pytest.importorskip("distributed", reason="the cluster extra (nnc[cluster]) is not installed")
    monkeypatch.setattr("nnc.fanout.CLUSTER_CONNECT_SECONDS", 1)
    with pytest.raises(InputError, match="cannot reach a Dask scheduler"):
        DaskCluster("tcp://127.0.0.1:9")  # the discard port: nothing listens


# A script that starts a pool whose work units sleep, prints its workers' pids, and waits.
SLEEPER = textwrap.dedent(
    """
    import os, signal, sys, time
    # Python installs its Ctrl-C handler only when SIGINT is not ignored at start, and a
    # background job (CI started with nohup or &) starts with it ignored: restore it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {tests!r})
    from nnc.fanout import LocalPool
    from test_fanout import sleep_long
    if __name__ == "__main__":
        pool = LocalPool(2)
        pool._started()
        print(" ".join(str(p) for p in pool._pool._processes), flush=True)
        try:
            pool.map(sleep_long, [1, 2, 3, 4])
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """
)


def sleep_long(_: int) -> None:
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead
        return stat.read().split()[2] != "Z"


def _wait_gone(pids: list[int], seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(signal.SIGINT, marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
        signal.SIGKILL,
    ],
)
def test_workers_die_with_the_compile(tmp_path, how):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER.format(tests=str(ROOT / "tests")))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    time.sleep(0.5)  # the work units are running
    parent.send_signal(how)
    parent.wait(timeout=60)
    assert _wait_gone(workers) == [], f"orphan workers after {how.name}"
    if how is signal.SIGINT:
        assert parent.stdout.read().strip() == "interrupted" and parent.returncode == 130
    assert list(tmp_path.iterdir()) == [script], "no temporary file left"
