"""Load a library nnc wrote: ctypes and numpy only, so it works where torch is not installed."""

from __future__ import annotations

import ctypes
import json
import re
from pathlib import Path
from typing import Any

from nnc.errors import InputError

from .abi import C_TYPES, SymbolNames, TensorInfo, check_abi_version
from .calling import EVAL_BATCH_TYPE, NativeFunction, column_type

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
    abi = metadata["abi"]
    inputs = [TensorInfo(i["name"], tuple(i["shape"]), i["dtype"]) for i in abi["inputs"]]
    output = TensorInfo("y", tuple(abi["output"]["shape"]), abi["output"]["dtype"])
    eval_batch = EVAL_BATCH_TYPE((names.eval_batch, library))
    arguments = len(abi["scalar"] or ())
    columns = {
        s: column_type(arguments)((names.column_entry(s), library))
        for s in C_TYPES
        if hasattr(library, names.column_entry(s))
    }
    loaded = LoadedLibrary(
        eval_batch, inputs, output, metadata["output"]["semantics"], library, columns
    )
    loaded.metadata = metadata
    loaded.prefix = prefix
    loaded.exports = names.exports(abi["scalar"] is not None, tuple(columns))
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
