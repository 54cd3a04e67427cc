"""The input-spec grammar: one string form for Python and the CLI, parsed in time and memory that
depend on the text, never on the shape it declares.

    x:float[3]=1..3                         every element in [1, 3]
    x:float[2]=[-1..1, 0..2]                per-element ranges
    tokens:int[3]=[a:0..112, b:0..112, 113] named integer elements and a constant
    x:float[4]={0,1}                        elements that take only the listed values
    x=@calib.npz                            calibration data instead of ranges
    m:float=1..5 kg                         a physical unit after a domain (physical_units.py)
    x:float[2]=[m:1..5 kg, v:0..3 m/s]      one per element; units enable dimensional analysis

Every number must fit the input's type: finite, within float32 for float, within ±2**53 for int
(the C ABI carries samples as doubles, exact to 2**53), within int32 for int32, 0 or 1 for bool.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .physical_units import UNIT_EXAMPLES, Unit, unit_problem
from .spec import Element, InputSpec, Range, Values, integer_dtype, numpy_dtype

__all__ = ["calibration_spec", "file_problem", "parse_inputs", "parse_spec"]

_DTYPE_ALIASES = {
    "float": "float32",
    "float32": "float32",
    "double": "float64",
    "float64": "float64",
    "int": "int64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "bool": "bool",
}
# (lo, hi) every value of a dtype must lie in
_LIMITS = {
    "float32": (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)),
    "float64": (-float(np.finfo(np.float64).max), float(np.finfo(np.float64).max)),
    "int64": (-(2.0**53), 2.0**53),
    "int32": (-(2.0**31), 2.0**31 - 1),
    "bool": (0.0, 1.0),
}
_HINT = (
    "write specs like 'x:float[3]=1..3', 'tokens:int[3]=[a:0..112, b:0..112, 113]', "
    "'m:float=1..5 kg' (a unit after the domain) or 'x=@calib.npz'"
)
_AUTO_NAME_CHECK = 4096  # inputs up to this size have their element names compared one by one


def parse_inputs(inputs: Sequence[Any] | Mapping[str, Any]) -> list[InputSpec]:
    """Spec strings, InputSpecs, or {name: spec string | samples} → InputSpecs."""
    if isinstance(inputs, (str, InputSpec)):
        inputs = [inputs]
    items = list(inputs.items()) if isinstance(inputs, Mapping) else [(None, v) for v in inputs]
    specs = []
    for name, value in items:
        if isinstance(value, InputSpec):
            specs.append(value)
        elif isinstance(value, str):
            text = value if name is None or value.startswith(name) else f"{name}{value}"
            specs.append(parse_spec(text))
        elif name is not None:
            specs.append(calibration_spec(str(name), value))
        else:
            raise InputError(
                f"input {str(value)[:80]!r} is not a spec",
                hint="pass spec strings, or {name: samples} for calibration data",
            )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"input names repeat: {names}", hint="give each input its own name")
    _check_distinct_elements(specs)
    return specs


def _check_distinct_elements(specs: Sequence[InputSpec]) -> None:
    """Element names are C parameters and formula symbols: no two inputs may share one. Large
    auto-named inputs (x0, x1, ...) are compared by their pattern, not name by name."""
    owner: dict[str, str] = {}
    patterns: list[tuple[str, int]] = []  # (prefix, count) of inputs named x0..x{count-1}
    for spec in specs:
        if spec.listed or spec.numel <= _AUTO_NAME_CHECK or spec.shape == ():
            for name in spec.element_names():
                if owner.setdefault(name, spec.name) != spec.name:
                    _repeated(name, owner[name], spec.name)
        else:
            patterns.append((spec.name, spec.numel))
    for prefix, count in patterns:
        for name, where in owner.items():
            digits = name[len(prefix) :]
            if name.startswith(prefix) and digits.isdigit() and _auto_index(digits) < count:
                _repeated(name, where, prefix)
        for other, _ in patterns:
            digits = other[len(prefix) :]
            overlaps = digits.isdigit() and _auto_index(digits + "0") < count
            if other != prefix and other.startswith(prefix) and overlaps:
                _repeated(f"{other}0", prefix, other)  # other's first element is one of ours


def _auto_index(digits: str) -> float:
    """The index an auto name's digits stand for (x07 is no auto name: infinity)."""
    return math.inf if len(digits) > 1 and digits[0] == "0" else int(digits)


def _repeated(name: str, first: str, second: str) -> None:
    raise InputError(
        f"element name {name!r} belongs to input {first!r} and to input {second!r}",
        hint="rename one of the inputs, or name the elements in a list: x:float[2]=[a:0..1, b:0..1]",
    )


# --- parsing --------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHOLE = re.compile(r"[-+]?\d+")


class _Parser:
    """Recursive descent over one spec string; every error points at its column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> InputError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        shown, caret = self.text, self.pos
        if len(shown) > 120:  # show the neighbourhood of a long spec, not all of it
            start = max(0, self.pos - 60)
            shown, caret = self.text[start : start + 120], self.pos - start
        return InputError(
            f"input spec {self.text[:120]!r}: expected {expected} at column {self.pos + 1}, "
            f"found {found}\n  {shown}\n  {' ' * caret}^",
            hint=_HINT,
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def eat(self, token: str) -> None:
        if not self.peek(token):
            raise self.fail(repr(token))
        self.pos += len(token)

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip()
        found = pattern.match(self.text, self.pos)
        if not found:
            raise self.fail(what)
        self.pos = found.end()
        return found.group(0)

    def number(self) -> float:
        return float(self.match(_NUMBER, "a number"))

    def size(self) -> int:
        start = self.pos
        value = self.number()
        if not (math.isfinite(value) and value == int(value) and value > 0):
            self.pos = start
            raise self.fail("a positive whole number")
        return int(value)


def parse_spec(text: str, base: Path | None = None) -> InputSpec:
    """Parse one input spec string; calibration paths are relative to `base` (default: cwd)."""
    if not isinstance(text, str):
        raise InputError(f"input spec {text!r} is not a string", hint=_HINT)
    p = _Parser(text)
    name = p.match(_IDENT, "an input name")
    if p.peek("="):
        p.eat("=")
        if p.peek("@"):
            p.eat("@")
            path = text[p.pos :].strip()
            if not path:
                raise p.fail("a file path after '@'")
            return _calibration_spec(name, Path(base or ".") / path, text)
        raise p.fail("':' and a type such as float[3] (only '@file' may follow the name directly)")
    p.eat(":")
    dtype_start = p.pos
    dtype_word = p.match(_IDENT, "a type (float, double, int, bool)")
    if dtype_word not in _DTYPE_ALIASES:
        p.pos = dtype_start
        raise p.fail(f"a type, one of {', '.join(sorted(_DTYPE_ALIASES))}")
    dtype = _DTYPE_ALIASES[dtype_word]
    shape: tuple[int, ...] = ()
    if p.peek("["):
        p.eat("[")
        dims = [] if p.peek("]") else [p.size()]
        while p.peek(","):
            p.eat(",")
            dims.append(p.size())
        p.eat("]")
        shape = tuple(dims)
    p.eat("=")
    domain: Range | Values | None = None
    listed: tuple[Element, ...] = ()
    unit = None
    if p.peek("["):
        listed = _element_list(p, name, math.prod(shape), dtype)
    else:
        domain = _domain(p, dtype)
        unit = _unit(p)
    p.skip()
    if p.pos != len(text):
        raise p.fail("the end of the spec")
    return InputSpec(name, dtype, shape, domain, listed, text=text, unit=unit)


def _element_list(p: _Parser, name: str, numel: int, dtype: str) -> tuple[Element, ...]:
    p.eat("[")
    elements: list[Element] = []
    seen: set[str] = set()
    while True:
        element_name = f"{name}{len(elements)}"
        p.skip()
        start = p.pos
        ident = _IDENT.match(p.text, p.pos)
        if ident:
            p.pos = ident.end()
            if p.peek(":"):
                p.eat(":")
                element_name = ident.group(0)
            else:
                p.pos = start
        if element_name in seen:
            p.pos = start
            raise p.fail(f"distinct element names ({element_name!r} appears twice)")
        seen.add(element_name)
        elements.append(Element(element_name, _domain(p, dtype), _unit(p)))
        if len(elements) > numel:
            raise p.fail(f"{numel} elements (the shape says {numel}, the list has more)")
        if not p.peek(","):
            break
        p.eat(",")
    if len(elements) != numel:
        raise p.fail(f"{numel} elements (the shape says {numel}, the list has {len(elements)})")
    p.eat("]")
    return tuple(elements)


def _domain(p: _Parser, dtype: str) -> Range | Values:
    """A range `lo..hi`, a value set `{v, ...}`, or a constant `v`."""
    if p.peek("{"):
        p.eat("{")
        values = [_checked(p, dtype)]
        while p.peek(","):
            p.eat(",")
            values.append(_checked(p, dtype))
        p.eat("}")
        return Values(tuple(dict.fromkeys(_nearest(v, dtype) for v in values)))
    lo = _checked(p, dtype)
    if not p.peek(".."):
        return Values((_nearest(lo, dtype),))
    p.eat("..")
    start = p.pos
    hi = _checked(p, dtype)
    if hi < lo:
        p.pos = start
        raise p.fail(f"an upper bound ≥ {lo:g}")
    if not math.isfinite(hi - lo):
        p.pos = start
        raise p.fail("a range whose width is a finite double")
    if dtype == "float32":  # the float32 values in [lo, hi]: its ends rounded inward
        lo32, hi32 = np.float32(lo), np.float32(hi)
        lo32 = lo32 if lo32 >= lo else np.nextafter(lo32, np.float32(np.inf))
        hi32 = hi32 if hi32 <= hi else np.nextafter(hi32, np.float32(-np.inf))
        if lo32 > hi32:
            p.pos = start
            raise p.fail(f"a range that holds a float32 value (none lies in {lo!r}..{hi!r})")
        lo, hi = float(lo32) + 0.0, float(hi32) + 0.0
    return Range(lo, hi)


def _unit(p: _Parser) -> Unit | None:
    """The physical unit after a domain (up to the next ',' or ']'), or None when there is none."""
    p.skip()
    end = min((i for i in (p.text.find(c, p.pos) for c in ",]") if i >= 0), default=len(p.text))
    if not p.text[p.pos : end].strip():
        return None
    unit = unit_problem(p.text[p.pos : end])
    if isinstance(unit, str):
        raise p.fail(f"a unit such as {UNIT_EXAMPLES} after the domain; {unit}")
    p.pos = end
    return unit


def _nearest(value: float, dtype: str) -> float:
    """The value as the input holds it: float32 rounds to nearest, the other types are exact."""
    return float(np.float32(value)) + 0.0 if dtype == "float32" else value


def _checked(p: _Parser, dtype: str) -> float:
    p.skip()
    start = p.pos
    token = p.match(_NUMBER, "a number")
    value = float(token) + 0.0  # -0 is 0
    whole = len(token) < 40 and _WHOLE.fullmatch(token)
    exact = int(token) if whole else value  # 2**53 + 1 is not 2**53
    lo, hi = _LIMITS[dtype]
    if not lo <= exact <= hi:
        p.pos = start
        raise p.fail(
            f"a number from {lo:g} to {hi:g} (what an input of type {dtype} holds exactly)"
        )
    if integer_dtype(dtype) and value != int(value):
        p.pos = start
        raise p.fail("a whole number (the input's type is integer)")
    return value


# --- calibration data -------------------------------------------------------------------------


def _calibration_spec(name: str, path: Path, text: str) -> InputSpec:
    problem = file_problem(path)
    if problem:
        raise InputError(
            f"calibration file {str(path)[:200]!r} for input {name!r} {problem}",
            hint="pass an existing .npz or .npy file of samples, shaped (n, *input_shape)",
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:
        raise InputError(
            f"cannot read calibration file {path.name[:200]!r}: {str(error)[:200]}",
            hint="save samples with numpy.savez(path, x=array) (pickled arrays are refused)",
        ) from error
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if name not in keys and len(keys) != 1:
                raise InputError(
                    f"calibration file {path.name!r} holds arrays {keys[:10]}, none named {name!r}",
                    hint=f"name the array {name!r} in the .npz",
                )
            try:
                data = loaded[name if name in keys else keys[0]]
            except Exception as error:
                raise InputError(
                    f"cannot read array {name!r} of calibration file {path.name!r}: "
                    f"{str(error)[:200]}",
                    hint="save samples with numpy.savez(path, x=array)",
                ) from error
    else:
        data = loaded
    return calibration_spec(name, data, text)


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file ("does not exist", "is a folder", ...), or None."""
    try:
        if path.is_dir():
            return "is a folder"
        if not path.is_file():
            return "does not exist"
    except OSError as error:  # a name too long, a loop of links
        return f"cannot be opened ({error.strerror})"
    return None


def calibration_spec(name: str, data: Any, text: str = "") -> InputSpec:
    """An input described by samples (n, *shape): a numpy array or torch tensor."""
    try:
        array = np.asarray(data.detach().cpu().numpy() if hasattr(data, "detach") else data)
    except Exception as error:
        raise InputError(
            f"calibration data for input {name!r} is not an array ({type(data).__name__})",
            hint="pass samples shaped (n, *input_shape) as a numpy array or torch tensor",
        ) from error
    if array.dtype.kind not in "iufb" or array.ndim < 1 or len(array) == 0 or array.size == 0:
        raise InputError(
            f"calibration data for input {name!r} has shape {array.shape} and dtype "
            f"{array.dtype}; it needs numbers and at least one sample along the first axis",
            hint="pass samples shaped (n, *input_shape)",
        )
    if not np.isfinite(array.astype(np.float64)).all():
        raise InputError(
            f"calibration data for input {name!r} contains NaN or Inf",
            hint="remove non-finite samples",
        )
    kind = "int64" if array.dtype.kind in "iu" else "bool" if array.dtype.kind == "b" else None
    dtype = kind or ("float64" if array.dtype == np.float64 else "float32")
    lo, hi = _LIMITS[dtype]
    if array.size and not (lo <= array.min() and array.max() <= hi):
        raise InputError(
            f"calibration data for input {name!r} holds values beyond {lo:g}..{hi:g}, what an "
            f"input of type {dtype} holds exactly",
            hint="scale the samples into range",
        )
    shape = tuple(int(d) for d in array.shape[1:])
    return InputSpec(name, dtype, shape, calibration=array.astype(numpy_dtype(dtype)), text=text)
