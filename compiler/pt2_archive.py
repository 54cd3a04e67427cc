"""Read a .pt2 (torch.export archive) without running anything it carries.

`torch.export.load` can run code from the file in six ways: it unpickles weights and constants
marked `use_pickle` and custom objects, unpickles sample inputs (falling back to the full
unpickler when the safe one fails), hands symbolic-shape strings to `sympy.sympify` (which
evaluates them), execs the program's `guards_code` when the module is built, loads AOTInductor
shared libraries, and resolves call targets to any attribute of `torch` (which the graph then
calls). An archive that is not trusted is therefore checked member by member and handed to torch
as an in-memory copy that holds only data:

- every member is read in full, so a bad CRC or a truncated member is an error;
- members nnc does not know (AOTInductor, ExecuTorch, legacy pickled weights) are refused;
- weights and constants must be raw tensor bytes (`use_pickle: false`, no custom objects);
- call targets must be ATen ops or a short list of arithmetic helpers torch.export emits;
- symbolic-shape expressions must be sympy constructors over literals (checked on their syntax
  tree: no attribute access, no strings but symbol names), guards must only read input sizes,
  sample inputs must load with the weights-only unpickler;
- the copy drops the sample inputs and the guard code, which nnc never uses, so torch gets
  nothing to unpickle or exec even if a check above were wrong.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["MAX_ARCHIVE_BYTES", "check_custom_operators", "check_members", "data_only_copy"]

MAX_ARCHIVE_BYTES = 4 << 30  # uncompressed size nnc reads from one archive
MAX_MEMBERS = 100_000

_SCALARS = ("archive_format", "archive_version", ".data/version", "byteorder")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# call targets torch.export writes for ordinary models, beyond torch.ops.aten.*
_SAFE_TARGETS = {
    *(
        f"_operator.{name}"
        for name in [
            "getitem",
            "add",
            "sub",
            "mul",
            "truediv",
            "floordiv",
            "mod",
            "pow",
            "neg",
            "pos",
            "abs",
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "and_",
            "or_",
            "xor",
            "not_",
            "invert",
            "lshift",
            "rshift",
        ]
    ),
    *(f"math.{name}" for name in ["ceil", "floor", "trunc", "sqrt"]),
    *(
        f"torch.{name}"
        for name in [
            "sym_float",
            "sym_int",
            "sym_max",
            "sym_min",
            "sym_not",
            "sym_ite",
            "sym_sqrt",
            "_sym_sqrt",
        ]
    ),
}
_SAFE_TARGET_PREFIXES = ("torch.ops.aten.",)
_REFUSED_HINT = (
    "nnc reads only weights, constants and the traced graph from an untrusted .pt2; if you "
    "trust the file pass --trust-pickle (trust=True), or re-export it with nnc.save_model"
)


def data_only_copy(path: Path) -> io.BytesIO:
    """A checked in-memory copy of the archive with nothing in it that can run code."""
    try:
        return _copy(path)
    except InputError as error:
        error.message = f"model file {path.name!r}: {error.message}"
        raise


def _copy(path: Path) -> io.BytesIO:
    try:
        archive = zipfile.ZipFile(path)
    except Exception as error:  # BadZipFile, or a damaged directory: bad names, versions, sizes
        raise _refused(
            f"it is not a readable zip archive ({type(error).__name__}: {error})"
        ) from error
    with archive:
        infos = archive.infolist()
        _check_sizes(infos)
        root = _root(infos)
        members = {info.filename: _read(archive, info) for info in infos}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as clean:
        for name, data in members.items():
            clean.writestr(name, _checked_member(name[len(root) :], data))
    out.seek(0)
    return out


def _checked_member(relative: str, data: bytes) -> bytes:
    """The bytes torch may see for one member (possibly rewritten), or an InputError."""
    if (
        relative in _SCALARS
        or relative == ".data/serialization_id"
        or relative.startswith("extra/")
    ):
        return data
    if relative.startswith("models/") and relative.endswith(".json"):
        return _checked_program(relative, data)
    if relative.startswith("data/sample_inputs/"):
        _check_tensor_pickle(relative, data)
        return b""  # nnc never needs them: torch gets none to unpickle
    if relative.startswith(("data/weights/", "data/constants/")):
        if relative.endswith("_config.json"):
            _check_payload_config(relative, data)
            return data
        if relative.endswith(".pt"):
            raise _refused(f"member {relative!r} is a pickled (legacy) weight file")
        return data  # raw tensor bytes, read as such through the payload config
    raise _refused(f"member {relative!r} is not part of an exported program nnc reads")


def _check_payload_config(relative: str, data: bytes) -> None:
    config = _json(relative, data).get("config", {})
    if not isinstance(config, dict):
        raise _refused(f"member {relative!r} is not a payload config")
    for name, entry in config.items():
        if not isinstance(entry, dict):
            raise _refused(f"member {relative!r}: entry {name!r} is not a payload description")
        if entry.get("use_pickle"):
            raise _refused(f"{name!r} in {relative!r} is stored as a pickle")
        path = str(entry.get("path_name", ""))
        if relative.startswith("data/constants/") and not path.startswith("tensor_"):
            raise _refused(f"constant {name!r} in {relative!r} is a custom object, not a tensor")


def _checked_program(relative: str, data: bytes) -> bytes:
    program = _json(relative, data)
    if not isinstance(program, dict):
        raise _refused(f"member {relative!r} is not an exported program")
    for node in _nodes(program):
        target = node.get("target")
        if not isinstance(target, str) or not (
            target in _SAFE_TARGETS or target.startswith(_SAFE_TARGET_PREFIXES)
        ):
            _check_not_custom(target)
            raise _refused(f"the graph calls {target!r}, which is not an ATen operator")
    for text in _values_of(program, "expr_str"):
        _check_sympy_text(text)
    for symbol in program.get("range_constraints") or {}:
        if not _IDENTIFIER.match(str(symbol)):
            raise _refused(f"range constraint on {symbol!r}, which is not a symbol name")
    for guard in program.get("guards_code") or []:
        _check_guard(guard)
    program["guards_code"] = []  # exec'd when the module is built; nnc checks inputs itself
    return json.dumps(program).encode()


def check_custom_operators(path: Path) -> None:
    """Refuse an archive whose graph calls a custom operator (torch.ops.<namespace>.<op> outside
    ATen): nnc compiles ATen operators only, trusted or not."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                relative = info.filename.split("/", 1)[-1]
                if relative.startswith("models/") and relative.endswith(".json"):
                    for node in _nodes(_json(relative, _read(archive, info))):
                        _check_not_custom(node.get("target"))
    except InputError as error:
        error.message = f"model file {path.name!r}: {error.message}"
        raise


def _check_not_custom(target: Any) -> None:
    parts = target.split(".") if isinstance(target, str) else []
    if len(parts) >= 4 and parts[:2] == ["torch", "ops"] and parts[2] != "aten":
        raise InputError(
            f"the graph calls custom operator {parts[2]}::{parts[3]}; nnc compiles the "
            "standard (ATen) operators only",
            hint="write what the custom operator computes with standard torch functions, then "
            "export the model again",
        )


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every graph node (a dict with target, inputs and outputs), subgraphs included."""
    if isinstance(tree, dict):
        if {"target", "inputs", "outputs"} <= tree.keys():
            yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _values_of(tree: Any, key: str) -> Iterator[Any]:
    if isinstance(tree, dict):
        for k, value in tree.items():
            if k == key:
                yield value
            yield from _values_of(value, key)
    elif isinstance(tree, list):
        for value in tree:
            yield from _values_of(value, key)


@functools.cache
def _sympy_names() -> frozenset[str]:
    """Constructors a symbolic-shape expression may call: sympy's and torch's sympy classes."""
    import sympy
    import torch.utils._sympy.functions as torch_functions

    names = set()
    for namespace in (sympy, torch_functions):
        for name in dir(namespace):
            value = getattr(namespace, name)
            if isinstance(value, type) and issubclass(value, sympy.Basic):
                names.add(name)
    return frozenset(names | {"True", "False", "oo", "zoo", "nan", "pi", "E"})


_ALLOWED_NODES = (
    ast.Expression,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.keyword,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Tuple,
)


def _check_sympy_text(text: Any) -> None:
    """Refuse a shape expression unless it is sympy constructors over numbers and symbol names
    (sympify evaluates the string as Python)."""
    tree = _parsed(text, "symbolic shape expression")
    allowed = _sympy_names()
    symbol_names: set[int] = set()
    for node in ast.walk(tree):
        is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        if is_call and node.func.id in ("Symbol", "Dummy") and node.args:
            symbol_names.add(id(node.args[0]))
    for node in ast.walk(tree):
        bad = not isinstance(node, _ALLOWED_NODES)
        if isinstance(node, ast.Call):
            bad = bad or not isinstance(node.func, ast.Name)
        elif isinstance(node, ast.Name):
            bad = bad or node.id not in allowed and not _IDENTIFIER.match(node.id)
            bad = bad or node.id.startswith("_")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            bad = bad or id(node) not in symbol_names or not _IDENTIFIER.match(node.value)
        elif isinstance(node, ast.Constant):
            bad = bad or not isinstance(node.value, (int, float, bool))
        if bad:
            raise _refused(f"symbolic shape expression {text[:80]!r} is not a plain sympy term")
        if isinstance(node, ast.Call) and node.func.id not in allowed:
            raise _refused(f"symbolic shape expression {text[:80]!r} calls {node.func.id!r}")


def _check_tensor_pickle(relative: str, data: bytes) -> None:
    """Sample inputs are a torch.save pickle: they must load with the weights-only unpickler
    (torch falls back to the full one, which runs code, when that fails)."""
    import torch

    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:
        raise _refused(f"member {relative!r} is a pickle that is not plain tensors") from error


_GUARD_NODES = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Subscript,
    ast.Attribute,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
)


def _check_guard(text: Any) -> None:
    """A guard reads input sizes: `L['x'].size()[0] == 3`; refuse anything else (it is exec'd)."""
    tree = _parsed(text, "guard")
    for node in ast.walk(tree):
        bad = not isinstance(node, _GUARD_NODES)
        if isinstance(node, ast.Name):
            bad = bad or node.id != "L"
        elif isinstance(node, ast.Attribute):
            bad = bad or node.attr not in ("size", "stride", "storage_offset", "dim")
        elif isinstance(node, ast.Call):
            bad = bad or not isinstance(node.func, ast.Attribute) or bool(node.args)
        if bad:
            raise _refused(f"guard {text[:80]!r} is not a check of input sizes")


def check_members(path: Path) -> None:
    """Refuse a zip archive (TorchScript, torch.save) with a damaged member: read every member in
    full, so its CRC is checked, within the size limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_sizes(infos)
            for info in infos:
                with archive.open(info) as member:
                    while member.read(1 << 24):
                        pass
    except InputError as error:
        error.message = f"model file {path.name!r}: {error.message}"
        raise
    except Exception as error:  # BadZipFile (a bad CRC), zlib.error, EOFError, ...
        raise InputError(
            f"model file {path.name!r} is corrupt: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else ''}",
            hint="the file was damaged in transfer or on disk; save the model again",
        ) from error


def _parsed(text: Any, what: str) -> ast.Expression:
    """The syntax tree of a short Python expression from the archive, never evaluated."""
    if not isinstance(text, str) or len(text) > 10_000:
        raise _refused(f"a {what} is not a short string")
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise _refused(f"{what} {text[:80]!r} does not parse") from error


def _check_sizes(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise _refused(f"it has {len(infos):,} members (nnc reads at most {MAX_MEMBERS:,})")
    total = sum(info.file_size for info in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise InputError(
            f"the archive unpacks to {total / 2**30:.1f} GiB; nnc reads at most "
            f"{MAX_ARCHIVE_BYTES / 2**30:.0f} GiB from one model file",
            hint="compile a smaller model, or split it and compile the parts",
        )


def _root(infos: list[zipfile.ZipInfo]) -> str:
    """The one top-level folder every member lives in ("model/")."""
    tops = {info.filename.split("/", 1)[0] for info in infos}
    if len(tops) != 1 or not infos:
        raise _refused("its members do not share one top-level folder")
    root = tops.pop() + "/"
    for info in infos:
        if not info.filename.startswith(root) or ".." in info.filename.split("/"):
            raise _refused(f"member {info.filename!r} lies outside the archive's folder")
    return root


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise _refused(f"member {info.filename!r} is corrupt ({error})") from error
    except Exception as error:  # zlib.error and friends: a damaged stream, whatever raised it
        raise _refused(f"member {info.filename!r} is corrupt ({type(error).__name__})") from error


def _json(relative: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _refused(f"member {relative!r} is not valid JSON") from error


def _refused(reason: str) -> InputError:
    return InputError(f"nnc will not load this .pt2: {reason}", hint=_REFUSED_HINT)
