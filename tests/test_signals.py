"""SIGINT and SIGTERM at any point of `nnc model -o algo.so`: exit 130 / 143 with one line, no
traceback, no output and no temporary file or folder — or, once the outputs are committed, a
normal exit with all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nnc
import pytest
import torch
from torch import nn

SPEC = "x:float[3]=1..3"
STARTUP_SECONDS = 120  # a loaded machine imports torch slowly
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("signals") / "mlp.pt2"
    nnc.save_model(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)), path, [SPEC])
    return path


def _start(model: Path, work: Path, cc: str | None = None) -> subprocess.Popen[str]:
    """nnc in its own process, with its own temporary folder (to see what it leaves there)."""
    (work / "out").mkdir()
    (work / "tmp").mkdir()
    # NNC_DEBUG=1 logs each stage ("traced: ...") on stdout: the cue to send a signal
    env = {**os.environ, "TMPDIR": str(work / "tmp"), "PYTHONUNBUFFERED": "1", "NNC_DEBUG": "1"}
    if cc:
        env["CC"] = cc
    command = [sys.executable, "-m", "nnc.cli", str(model), "-o", str(work / "out" / "algo.so")]
    command += ["--mode", "exact", "--report", str(work / "out" / "report.md")]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for(condition: Callable[[], bool], seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "nnc never got there"
        time.sleep(0.05)


def _check_outcome(process: subprocess.Popen[str], signum: int, work: Path) -> int:
    """The run either finished with every output or stopped with none; nothing else is left."""
    _, err = process.communicate(timeout=STARTUP_SECONDS)
    outputs = sorted(p.name for p in (work / "out").iterdir())
    assert "Traceback" not in err, err
    assert list((work / "tmp").iterdir()) == [], "a temporary file or folder was left"
    if process.returncode == 0:
        pictures = [name for name in outputs if name.startswith("report-")]  # beside report.md
        assert outputs == sorted(["algo.h", "algo.so", "report.md", *pictures])
    else:
        assert process.returncode == CODES[signum], err
        assert outputs == [], outputs
        assert err.strip().splitlines()[-1] == (
            f"nnc: interrupted by {signal.Signals(signum).name}; no output was written"
        )
    return process.returncode


@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM]
)
def test_a_signal_while_linking_leaves_nothing(
    signum: signal.Signals, model_file: Path, tmp_path: Path
) -> None:
    """The linker is a script that leaves a temporary file (as gcc's collect2 leaves its
    ccXXXXXX.res when killed), says it started, and waits: the signal lands in the link."""
    marker = tmp_path / "linking"
    slow_cc = tmp_path / "slow-cc"
    slow_cc.write_text(
        f'#!/bin/sh\ntouch "${{TMPDIR:-/tmp}}/cc0000.res"\ntouch "{marker}"\nsleep 60\n'
        'exec cc "$@"\n'
    )
    slow_cc.chmod(0o755)
    process = _start(model_file, tmp_path, str(slow_cc))
    _wait_for(marker.exists)
    process.send_signal(signum)
    assert _check_outcome(process, signum, tmp_path) == CODES[signum]


@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM]
)
def test_a_signal_while_compiling_leaves_nothing(
    signum: signal.Signals, model_file: Path, tmp_path: Path
) -> None:
    process = _start(model_file, tmp_path)
    assert process.stdout is not None
    _wait_for(lambda: "traced" in process.stdout.readline())
    process.send_signal(signum)
    assert _check_outcome(process, signum, tmp_path) == CODES[signum]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [i * 0.25 for i in range(40)])
def test_a_signal_at_any_moment_leaves_all_or_nothing(
    delay: float, model_file: Path, tmp_path: Path
) -> None:
    """Signals spread over the whole run, from import to exit: every outcome is all or nothing."""
    process = _start(model_file, tmp_path)
    assert process.stdout is not None
    _wait_for(lambda: "traced" in process.stdout.readline())
    time.sleep(delay)
    signum = signal.SIGTERM if int(delay * 4) % 2 else signal.SIGINT
    if process.poll() is None:
        process.send_signal(signum)
    _check_outcome(process, signum, tmp_path)
