"""Load a library nnc wrote: numpy, cffi and ctypes only, so it works where torch is not installed.

ctypes opens the library and finds its symbols (the standard library's dlopen/dlsym); the calls go
through cffi function pointers, as for JIT-compiled code (binding.py)."""

from __future__ import annotations

import ctypes
import json
import re
from pathlib import Path
from typing import Any

from nnc.errors import InputError

from .abi import Abi, SymbolNames, check_abi_version
from .binding import bind
from .calling import NativeFunction

__all__ = ["LoadedLibrary", "load"]

_METADATA_SYMBOL = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)_metadata\0")


class LoadedLibrary(NativeFunction):
    """A compiled model loaded from disk: call it like the artifact; `.metadata` is its JSON."""

    metadata: dict[str, Any]
    prefix: str
    exports: tuple[str, ...]  # every function it exports, as backends/abi.py names them


def load(path: str | Path, name: str | None = None) -> LoadedLibrary:
    """Open `path` (an nnc .so); `name` is its symbol prefix, found in the file when omitted."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"no library at {str(path)!r}", hint="pass the path of a .so written by nnc"
        )
    try:
        library = ctypes.CDLL(str(path.resolve()))
    except OSError as error:
        raise InputError(
            f"cannot load {path.name!r}: {error}",
            hint="pass a shared library built by nnc for this machine",
        ) from error
    prefix = name or _find_prefix(path, library)
    names = SymbolNames(prefix)
    metadata_fn = getattr(library, names.metadata_symbol)
    metadata_fn.restype = ctypes.c_char_p
    metadata = json.loads(metadata_fn().decode())
    check_abi_version(metadata, repr(path.name))
    abi = Abi.from_json(prefix, metadata)

    def address_of(symbol: str) -> int:
        try:
            return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value or 0
        except AttributeError:
            raise InputError(
                f"{path.name!r} lacks {symbol}, which its metadata declares",
                hint="the file is damaged or was not written by nnc: rebuild it",
            ) from None

    loaded = LoadedLibrary(abi, bind(abi, address_of, library), metadata["output"]["semantics"])
    loaded.metadata = metadata
    loaded.prefix = prefix
    loaded.exports = abi.exports(
        abi.scalar_args is not None, abi.columns, abi.rows, automaton=abi.automaton is not None
    )
    return loaded


def _find_prefix(path: Path, library: ctypes.CDLL) -> str:
    candidates = [path.stem.split(".")[0]]
    candidates += [m.decode() for m in _METADATA_SYMBOL.findall(path.read_bytes())]
    for prefix in candidates:
        names = SymbolNames(prefix)
        if hasattr(library, names.metadata_symbol) and hasattr(library, names.eval_batch):
            return prefix
    raise InputError(
        f"{path.name!r} exports no nnc functions",
        hint="pass a library written by nnc (nnc.load(path, name=PREFIX) or `nnc show --name "
        "PREFIX` when its file name does not start with the prefix)",
    )
