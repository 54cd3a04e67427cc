"""AOTInductor packages of a model: torch.export at fixed shapes, then aoti_compile_and_package in a
child process, so that a build past the time limit is stopped and costs a Skipped row, not the run.

    python benchmarks/aoti.py PROGRAM.pt2 PACKAGE.pt2 [...]   # the child: build each package

Imports nothing but torch and the standard library: the child runs this file as a script.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["TIME_LIMIT", "BuildError", "build_packages"]

TIME_LIMIT = 120.0  # seconds for the whole build (every shape), then the child is killed


class BuildError(Exception):
    """The model could not be exported or built here; the message says why."""


def build_packages(
    model: torch.nn.Module, examples: list[torch.Tensor], folder: Path, limit: float = TIME_LIMIT
) -> list[Callable[[torch.Tensor], Any]]:
    """One loaded AOTInductor package per example input (static shapes), built under `folder`."""
    paths = []
    for example in examples:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.export.export(model, (example,))
        except Exception as error:
            raise BuildError(f"torch.export failed: {_first_line(error)}") from error
        stem = f"aoti_{len(example)}"
        torch.export.save(program, folder / f"{stem}.program.pt2")
        paths += [folder / f"{stem}.program.pt2", folder / f"{stem}.pt2"]
    child = subprocess.Popen(
        [sys.executable, __file__, *map(str, paths)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the child's session: its compiler workers too
        child.communicate()
        raise BuildError(f"not built within the {limit:g} s time limit") from None
    if child.returncode != 0:
        lines = err.strip().splitlines() or [f"exit status {child.returncode}"]
        reason = out.strip() or lines[-1]
        raise BuildError(f"failed to build: {reason[:300]}")
    return [torch._inductor.aoti_load_package(str(package)) for package in paths[1::2]]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def main(paths: list[str]) -> int:
    """Build PACKAGE from PROGRAM for each pair; on failure print the error's first line."""
    torch.set_num_threads(1)  # inductor then emits serial kernels: the run times one thread
    warnings.simplefilter("ignore")
    for program, package in zip(paths[::2], paths[1::2]):
        try:
            torch._inductor.aoti_compile_and_package(
                torch.export.load(program), package_path=package
            )
        except Exception as error:  # noqa: BLE001 - inductor fails in many ways without a compiler
            print(_first_line(error))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
