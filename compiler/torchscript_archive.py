"""Check a TorchScript archive's tensors before torch.jit.load reads them.

torch.jit.load trusts the archive's bookkeeping: a weight whose storage member is shorter than its
pickle says loads without complaint and crashes the process (a segmentation fault) when it is
read. So the pickles (data.pkl, constants.pkl) are read here with an unpickler that builds nothing
— every class is a stand-in — to collect each storage's size and each tensor's extent, and those
are checked against the members before torch sees the file.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["check_tensors"]

# storage class in the pickle → bytes per element
_ITEMSIZE = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "UntypedStorage": 1,
}
_PICKLES = ("data.pkl", "constants.pkl")
_REBUILDS = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}


class _StandIn:
    """Whatever class the pickle names: takes any arguments and any state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _Storage:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Reader(pickle.Unpickler):
    """Records storages (key → bytes) and checks every tensor lies inside its storage."""

    def __init__(self, data: bytes, storages: dict[str, int]) -> None:
        super().__init__(io.BytesIO(data))
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _ITEMSIZE:
            return name
        if module == "torch._utils" and name in _REBUILDS:
            return _inside_storage
        return _StandIn

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _corrupt(f"a storage reference {str(pid)[:80]} is malformed")
        _, kind, key, _, numel = pid
        if kind not in _ITEMSIZE or not isinstance(numel, int) or numel < 0:
            raise _corrupt(f"storage {str(key)[:40]!r} is malformed")
        self.storages[str(key)] = numel * _ITEMSIZE[kind]
        return _Storage(str(key), numel)


def _inside_storage(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _StandIn:
    """torch._utils._rebuild_tensor_v2's arguments: the tensor's extent must fit its storage."""
    shapes = (size, stride)
    if not isinstance(storage, _Storage) or not all(isinstance(s, tuple) for s in shapes):
        raise _corrupt("a tensor is malformed")
    numbers = [offset, *size, *stride]
    if len(size) != len(stride) or not all(isinstance(n, int) and n >= 0 for n in numbers):
        raise _corrupt("a tensor's shape is malformed")
    if 0 not in size:
        last = offset + sum((n - 1) * step for n, step in zip(size, stride))
        if last >= storage.numel:
            raise _corrupt(f"a tensor reaches beyond its storage {storage.key!r}")
    return _StandIn()


def check_tensors(path: Path) -> None:
    """Refuse a TorchScript archive whose tensors do not fit the storages it holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
            storages: dict[str, int] = {}
            for name in sizes:
                if name.split("/", 1)[-1] in _PICKLES:
                    _Reader(archive.read(name), storages).load()
    except InputError as error:
        error.message = f"model file {path.name!r}: {error.message}"
        raise
    except Exception as error:
        raise InputError(
            f"model file {path.name!r}: TorchScript archive is corrupt ({type(error).__name__})",
            hint="save the model again",
        ) from error
    root = next(iter(sizes)).split("/", 1)[0] if sizes else ""
    for key, needed in storages.items():
        held = sizes.get(f"{root}/data/{key}")
        if held != needed:
            raise InputError(
                f"model file {path.name!r}: storage {key!r} holds "
                f"{'no' if held is None else held} bytes, its tensors need {needed}",
                hint="the file is truncated or damaged; save the model again",
            )


def _corrupt(what: str) -> InputError:
    return InputError(f"TorchScript archive is corrupt: {what}", hint="save the model again")
