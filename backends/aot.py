"""Ahead of time: link an object file into a shared library with the system C compiler, and write
outputs so that a run leaves all of them or none.

The library depends on libc and libm only. Every output (library, header, report) is first written
under a temporary name beside its target; only when all are written are they renamed into place,
with SIGINT and SIGTERM held back for those few renames. A failure, an exception or a signal
before that leaves the targets untouched and removes the temporary files and folders.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from nnc.errors import BackendError, InputError, MissingDependencyError

__all__ = [
    "HEADER_MODE",
    "LIBRARY_MODE",
    "Staging",
    "check_output_path",
    "link_shared_library",
    "linker_command",
    "run_compiler",
    "staged_outputs",
    "write_atomically",
]

LIBRARY_MODE = 0o755
HEADER_MODE = 0o644  # also the report's files
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run_compiler(command: Sequence[str], work: Path) -> subprocess.CompletedProcess[str]:
    """Run the C compiler with `work` as its TMPDIR: whatever it leaves there when a signal stops
    it (gcc's collect2 writes a `ccXXXXXX.res` it removes only on a clean exit) goes when `work`
    does, never into the user's temporary folder."""
    environment = {**os.environ, "TMPDIR": str(work)}
    return subprocess.run(
        list(command), capture_output=True, text=True, check=False, env=environment
    )


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


def link_shared_library(object_code: bytes, libraries: Sequence[str] = ("m",)) -> bytes:
    """The shared library linked from `object_code` against the given system libraries (in a
    temporary folder that is gone when this returns or raises, signals included)."""
    command = linker_command()
    with tempfile.TemporaryDirectory(prefix="nnc-") as work:
        obj = Path(work) / "algo.o"
        obj.write_bytes(object_code)
        linked = Path(work) / "algo.so"
        libraries_flags = [f"-l{lib}" for lib in libraries]
        result = run_compiler(
            [*command, "-shared", "-o", str(linked), str(obj), *libraries_flags], Path(work)
        )
        if result.returncode != 0:
            raise BackendError(
                f"linking the shared library failed ({' '.join(command)} exited "
                f"{result.returncode}): {result.stderr.strip()[:500]}",
                hint="check that the C compiler can build shared libraries (set $CC to choose one)",
            )
        return linked.read_bytes()


def check_output_path(path: Path) -> None:
    """Fail early, before any work, when `path` cannot be written."""
    try:
        is_dir, folder_ok = path.is_dir(), path.parent.is_dir()
    except OSError as error:  # a name too long, a loop of links
        raise InputError(
            f"cannot write {str(path)[:200]!r}: {error.strerror}",
            hint="choose a shorter output path in a folder you can write to",
        ) from error
    if is_dir:
        raise InputError(
            f"output path {str(path)!r} is a folder", hint="give a file name such as algo.so"
        )
    folder = path.parent
    if not folder_ok:
        raise InputError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist",
            hint="create the folder first or choose another output path",
        )
    if not os.access(folder, os.W_OK):
        raise InputError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable",
            hint="choose an output path in a folder you can write to",
        )


class Staging:
    """Outputs written under temporary names beside their targets, renamed into place together by
    `commit`; `discard` (or leaving `staged_outputs` without committing) removes them."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []  # (temporary, target)
        self._folders: list[tuple[Path, Path]] = []  # (temporary folder, target folder)

    def write(self, path: Path, data: bytes, mode: int = HEADER_MODE) -> None:
        """Write `data` to a temporary file that `commit` renames to `path`."""
        check_output_path(path)
        try:
            handle, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp"
            )
        except OSError as error:
            raise InputError(
                f"cannot write {str(path)!r}: {error.strerror}",
                hint="choose an output path in a folder you can write to",
            ) from error
        self._files.append((Path(temporary), path))
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)

    def folder(self, target: Path) -> Path:
        """A temporary folder beside `target` (a folder) whose files `commit` moves into it."""
        check_output_path(target / "file")
        work = Path(tempfile.mkdtemp(dir=target, prefix=".nnc-"))
        self._folders.append((work, target))
        return work

    def commit(self) -> None:
        """Rename every staged output into place, with SIGINT/SIGTERM held back meanwhile."""
        for work, target in self._folders:
            for item in sorted(work.iterdir()):
                os.chmod(item, HEADER_MODE)
                self._files.append((item, target / item.name))
        with _signals_held():
            for temporary, target in self._files:
                os.replace(temporary, target)
            self._files = []
            self.discard()

    def discard(self) -> None:
        """Remove every staged output that was not committed."""
        for temporary, _ in self._files:
            temporary.unlink(missing_ok=True)
        for work, _ in self._folders:
            shutil.rmtree(work, ignore_errors=True)
        self._files, self._folders = [], []


@contextlib.contextmanager
def staged_outputs() -> Iterator[Staging]:
    """A Staging whose uncommitted outputs are removed however the block ends (signals too)."""
    staging = Staging()
    try:
        yield staging
    finally:
        staging.discard()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (their handlers then run as usual)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # NOTE: Python runs signal handlers in the main thread only
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_atomically(path: Path, data: bytes, mode: int = HEADER_MODE) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    with staged_outputs() as staging:
        staging.write(path, data, mode)
        staging.commit()
