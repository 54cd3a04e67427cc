"""nnc: compile a trained PyTorch network into the algorithm it computes, as native code.

`nnc.load` needs only numpy and cffi; everything else imports torch on first use.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    BackendError,
    FidelityError,
    InputError,
    MissingDependencyError,
    NNCError,
    UnsupportedOpError,
)
from .version import __version__

__all__ = [
    "Artifact",
    "BackendError",
    "FidelityError",
    "InputError",
    "InputSpec",
    "MissingDependencyError",
    "NNCError",
    "UnsupportedOpError",
    "__version__",
    "compile",
    "load",
    "save_model",
]

_LAZY = {
    "compile": ("nnc.api", "compile"),
    "save_model": ("nnc.modelfile", "save_model"),
    "InputSpec": ("nnc.spec", "InputSpec"),
    "Artifact": ("nnc.artifact", "Artifact"),
    "load": ("nnc.backends.loader", "load"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'nnc' has no attribute {name!r}")
