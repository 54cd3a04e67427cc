"""Ahead of time: emit an object file and link it into a shared library with the system C compiler.

The library depends on libc and libm only. It is written to a temporary file in the target
folder and renamed into place, so a failure never leaves a half-written library behind.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nnc.errors import BackendError, InputError, MissingDependencyError

__all__ = ["check_output_path", "linker_command", "write_atomically", "write_shared_library"]


def linker_command() -> list[str]:
    """$CC, else `cc`, else the zig toolchain of the `ziglang` package (the `nnc[zig]` extra)."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return [candidate]
    if zig_installed():
        return [sys.executable, "-m", "ziglang", "cc"]
    raise MissingDependencyError(
        "no C compiler found to link the shared library (looked for $CC, cc, gcc, clang and the "
        "ziglang package)",
        hint="install one: `apt-get install gcc` or `pip install 'nnc[zig]'`; "
        "the JIT callable (nnc.compile) needs no compiler",
    )


def zig_installed() -> bool:
    return importlib.util.find_spec("ziglang") is not None


def write_shared_library(object_code: bytes, path: Path, libraries: Sequence[str] = ("m",)) -> None:
    """Link `object_code` into `path` (atomically) against the given system libraries."""
    command = linker_command()
    with tempfile.TemporaryDirectory(prefix="nnc-") as work:
        obj = Path(work) / "algo.o"
        obj.write_bytes(object_code)
        linked = Path(work) / "algo.so"
        result = subprocess.run(
            [*command, "-shared", "-o", str(linked), str(obj), *[f"-l{lib}" for lib in libraries]],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackendError(
                f"linking the shared library failed ({' '.join(command)} exited "
                f"{result.returncode}): {result.stderr.strip()[:500]}",
                hint="check that the C compiler can build shared libraries (set $CC to choose one)",
            )
        write_atomically(path, linked.read_bytes())
    path.chmod(0o755)


def check_output_path(path: Path) -> None:
    """Fail early, before any work, when `path` cannot be written."""
    if path.is_dir():
        raise InputError(
            f"output path {str(path)!r} is a folder", hint="give a file name such as algo.so"
        )
    folder = path.parent
    if not folder.is_dir():
        raise InputError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist",
            hint="create the folder first or choose another output path",
        )
    if not os.access(folder, os.W_OK):
        raise InputError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable",
            hint="choose an output path in a folder you can write to",
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    check_output_path(path)
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise InputError(
            f"cannot write {str(path)!r}: {error.strerror}",
            hint="choose an output path in a folder you can write to",
        ) from error
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
