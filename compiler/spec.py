"""Input specs: what each model input is and the domain on which nnc's claims must hold.

One grammar serves Python and the CLI:

    x:float[3]=1..3                         every element in [1, 3]
    x:float[2]=[-1..1, 0..2]                per-element ranges
    tokens:int[3]=[a:0..112, b:0..112, 113] named integer elements and a constant
    x:float[4]={0,1}                        elements that take only the listed values
    x=@calib.npz                            calibration data instead of ranges
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Domain", "Element", "InputSpec", "Range", "Values", "parse_inputs", "parse_spec"]

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


@dataclass(frozen=True)
class Range:
    """Every value from lo to hi inclusive: a continuous interval, or consecutive integers."""

    lo: float
    hi: float


@dataclass(frozen=True)
class Values:
    """Only the listed values (a constant is a single value)."""

    values: tuple[float, ...]


@dataclass(frozen=True)
class Element:
    """One scalar element of an input tensor: its name (as in expressions and the C ABI) and domain."""

    name: str
    domain: Range | Values

    @property
    def constant(self) -> float | None:
        values = self.domain.values if isinstance(self.domain, Values) else ()
        return values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class InputSpec:
    """One model input: name, dtype, per-sample shape, and per-element domains or calibration data."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    elements: tuple[Element, ...] = ()
    calibration: np.ndarray | None = None  # (n, *shape) samples, instead of element domains
    text: str = ""

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def integer(self) -> bool:
        return _integer_dtype(self.dtype)

    def element_count(self) -> int | None:
        """How many distinct points this input takes, or None when the domain is continuous."""
        if self.calibration is not None:
            return len(self.calibration)
        count = 1
        for element in self.elements:
            domain = element.domain
            if isinstance(domain, Values):
                count *= len(domain.values)
            elif self.integer:
                count *= int(domain.hi) - int(domain.lo) + 1
            else:
                return None
        return count

    def to_json(self) -> dict[str, Any]:
        """The spec as recorded in artifact metadata (no file paths: calibration is summarised)."""
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.calibration is not None:
            out["calibration_samples"] = len(self.calibration)
        else:
            out["elements"] = [_element_json(e) for e in self.elements]
            out["spec"] = self.text
        return out


def _element_json(element: Element) -> dict[str, Any]:
    domain = element.domain
    if isinstance(domain, Range):
        return {"name": element.name, "range": [domain.lo, domain.hi]}
    return {"name": element.name, "values": list(domain.values)}


class Domain:
    """The product of all inputs' domains: enumeration when small and discrete, sampling otherwise."""

    def __init__(self, specs: Sequence[InputSpec]) -> None:
        self.specs = list(specs)

    def size(self) -> int | None:
        """The number of points, or None when some input is continuous."""
        if any(s.calibration is not None for s in self.specs):
            counts = {len(s.calibration) for s in self.specs if s.calibration is not None}
            if len(counts) > 1:
                raise InputError(
                    f"calibration inputs have different sample counts {sorted(counts)}",
                    hint="give every input the same number of calibration samples",
                )
        total = 1
        for spec in self.specs:
            count = spec.element_count()
            if count is None:
                return None
            total *= count
        return total

    def points(self, limit: int, samples: int, seed: int) -> tuple[list[np.ndarray], bool]:
        """Arrays (n, *shape) per input, and whether they cover the whole domain."""
        if any(s.calibration is not None for s in self.specs):
            return self._calibration(), True
        size = self.size()
        if size is not None and size <= limit:
            return self._enumerate(), True
        return self._sample(samples, seed), False

    def space_filling(self, n: int, seed: int) -> list[np.ndarray]:
        """n points spread evenly over the domain (scrambled Sobol), or n calibration rows."""
        if any(s.calibration is not None for s in self.specs):
            rows = np.random.default_rng(seed).choice(self.size() or 1, size=n, replace=True)
            return [p[rows] for p in self._calibration()]
        import torch

        elements = [(spec, e) for spec in self.specs for e in spec.elements]
        engine = torch.quasirandom.SobolEngine(len(elements), scramble=True, seed=seed)
        unit = engine.draw(n, dtype=torch.float64).numpy()
        columns = [_from_unit(spec, e, unit[:, k]) for k, (spec, e) in enumerate(elements)]
        out, start = [], 0
        for spec in self.specs:
            block = (
                np.stack(columns[start : start + spec.numel], axis=1)
                if spec.numel
                else np.zeros((n, 0))
            )
            out.append(block.reshape(n, *spec.shape).astype(_numpy_dtype(spec.dtype)))
            start += spec.numel
        return out

    def _calibration(self) -> list[np.ndarray]:
        n = self.size()
        out = []
        for spec in self.specs:
            if spec.calibration is None:
                rng = np.random.default_rng(0)
                out.append(_sample_elements(spec, n or 1, rng))
            else:
                out.append(spec.calibration)
        return out

    def enumerate_range(self, start: int, stop: int) -> list[np.ndarray]:
        """Points start .. stop-1 of the enumeration (the last element varies fastest, as in
        itertools.product), computed from their indices: a chunk of a domain too large to hold."""
        axes = [
            np.asarray(_element_values(spec, e), dtype=np.float64)
            for spec in self.specs
            for e in spec.elements
        ]
        index = np.arange(start, stop, dtype=np.int64)
        columns = []
        for axis in reversed(axes):
            index, digit = np.divmod(index, len(axis))
            columns.append(axis[digit])
        grid = np.stack(columns[::-1], axis=1) if columns else np.zeros((stop - start, 0))
        out, first = [], 0
        for spec in self.specs:
            block = grid[:, first : first + spec.numel]
            out.append(block.reshape(-1, *spec.shape).astype(_numpy_dtype(spec.dtype)))
            first += spec.numel
        return out

    def _enumerate(self) -> list[np.ndarray]:
        return self.enumerate_range(0, self.size() or 0)

    def _sample(self, n: int, seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [_sample_elements(spec, n, rng) for spec in self.specs]


def _from_unit(spec: InputSpec, element: Element, u: np.ndarray) -> np.ndarray:
    """Map uniform [0, 1) numbers onto one element's domain."""
    domain = element.domain
    if isinstance(domain, Values):
        values = np.array(domain.values)
        return values[np.minimum((u * len(values)).astype(int), len(values) - 1)]
    if spec.integer:
        count = int(domain.hi) - int(domain.lo) + 1
        return int(domain.lo) + np.minimum((u * count).astype(int), count - 1)
    return domain.lo + u * (domain.hi - domain.lo)


def _integer_dtype(dtype: str) -> bool:
    """Integer-valued specs: int types and bool (this module stays free of torch, like ops.py's
    is_integer_dtype it mirrors for the spec's own dtype names)."""
    return dtype.startswith("int") or dtype == "bool"


def abi_rows(points: list[np.ndarray]) -> np.ndarray:
    """Per-input arrays (n, *shape) as the ABI takes them: (n, sum of input sizes) float64."""
    return np.concatenate([p.reshape(len(p), -1).astype(np.float64) for p in points], axis=1)


def _element_values(spec: InputSpec, element: Element) -> list[float]:
    domain = element.domain
    if isinstance(domain, Values):
        return list(domain.values)
    return list(range(int(domain.lo), int(domain.hi) + 1))


def _sample_elements(spec: InputSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random points of one input; the corners of continuous ranges are always among them."""
    columns = []
    for k, element in enumerate(spec.elements):
        domain = element.domain
        if isinstance(domain, Values):
            columns.append(rng.choice(np.array(domain.values), size=n))
        elif spec.integer:
            columns.append(rng.integers(int(domain.lo), int(domain.hi) + 1, size=n))
        else:
            column = rng.uniform(domain.lo, domain.hi, size=n)
            column[: min(n, 2)] = [domain.lo, domain.hi][: min(n, 2)]
            columns.append(column)
    data = np.stack(columns, axis=1) if columns else np.zeros((n, 0))
    return data.reshape(n, *spec.shape).astype(_numpy_dtype(spec.dtype))


def _numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype("bool" if dtype == "bool" else dtype)


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
            specs.append(calibration_spec(name, value))
        else:
            raise InputError(
                f"input {value!r} is not a spec",
                hint="pass spec strings, or {name: samples} for calibration data",
            )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"input names repeat: {names}", hint="give each input its own name")
    return specs


# --- parsing --------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Parser:
    """Recursive descent over one spec string; every error points at its column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> InputError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        return InputError(
            f"input spec {self.text!r}: expected {expected} at column {self.pos + 1}, "
            f"found {found}\n  {self.text}\n  {' ' * self.pos}^",
            hint="write specs like 'x:float[3]=1..3', "
            "'tokens:int[3]=[a:0..112, b:0..112, 113]' or 'x=@calib.npz'",
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

    def integer(self) -> int:
        start = self.pos
        value = self.number()
        if value != int(value) or value <= 0:
            self.pos = start
            raise self.fail("a positive whole number")
        return int(value)


def parse_spec(text: str, base: Path | None = None) -> InputSpec:
    """Parse one input spec string; calibration paths are relative to `base` (default: cwd)."""
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
        dims = [] if p.peek("]") else [p.integer()]
        while p.peek(","):
            p.eat(",")
            dims.append(p.integer())
        p.eat("]")
        shape = tuple(dims)
    numel = math.prod(shape)
    p.eat("=")
    if p.peek("["):
        elements = _element_list(p, name, numel, dtype)
    else:
        domain = _domain(p, dtype)
        names = [name] if shape == () else [f"{name}{i}" for i in range(numel)]
        elements = [Element(n, domain) for n in names]
    p.skip()
    if p.pos != len(text):
        raise p.fail("the end of the spec")
    return InputSpec(name, dtype, shape, tuple(elements), text=text)


def _element_list(p: _Parser, name: str, numel: int, dtype: str) -> list[Element]:
    p.eat("[")
    elements: list[Element] = []
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
        if any(e.name == element_name for e in elements):
            p.pos = start
            raise p.fail(f"distinct element names ({element_name!r} appears twice)")
        elements.append(Element(element_name, _domain(p, dtype)))
        if not p.peek(","):
            break
        p.eat(",")
    if len(elements) != numel:
        raise p.fail(f"{numel} elements (the shape says {numel}, the list has {len(elements)})")
    p.eat("]")
    return elements


def _domain(p: _Parser, dtype: str) -> Range | Values:
    """A range `lo..hi`, a value set `{v, ...}`, or a constant `v`."""
    integer = _integer_dtype(dtype)
    if p.peek("{"):
        p.eat("{")
        values = [_checked(p, integer)]
        while p.peek(","):
            p.eat(",")
            values.append(_checked(p, integer))
        p.eat("}")
        return Values(tuple(values))
    lo = _checked(p, integer)
    if not p.peek(".."):
        return Values((lo,))
    p.eat("..")
    start = p.pos
    hi = _checked(p, integer)
    if hi < lo:
        p.pos = start
        raise p.fail(f"an upper bound ≥ {lo:g}")
    return Range(lo, hi)


def _checked(p: _Parser, integer: bool) -> float:
    p.skip()
    start = p.pos
    value = p.number() + 0.0  # -0 is 0
    if integer and value != int(value):
        p.pos = start
        raise p.fail("a whole number (the input's type is integer)")
    return value


def _calibration_spec(name: str, path: Path, text: str) -> InputSpec:
    if not path.is_file():
        raise InputError(
            f"calibration file {str(path)!r} for input {name!r} does not exist",
            hint="pass an existing .npz or .npy file of samples, shaped (n, *input_shape)",
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:
        raise InputError(
            f"cannot read calibration file {path.name!r}: {error}",
            hint="save samples with numpy.savez(path, x=array) (pickled arrays are refused)",
        ) from error
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        if name in keys:
            data = loaded[name]
        elif len(keys) == 1:
            data = loaded[keys[0]]
        else:
            raise InputError(
                f"calibration file {path.name!r} holds arrays {keys}, none named {name!r}",
                hint=f"name the array {name!r} in the .npz",
            )
    else:
        data = loaded
    return calibration_spec(name, data, text)


def calibration_spec(name: str, data: Any, text: str = "") -> InputSpec:
    """An input described by samples (n, *shape): a numpy array or torch tensor."""
    array = np.asarray(data.detach().cpu().numpy() if hasattr(data, "detach") else data)
    if array.ndim < 1 or len(array) == 0:
        raise InputError(
            f"calibration data for input {name!r} has shape {array.shape}; it needs at least one "
            "sample along the first axis",
            hint="pass samples shaped (n, *input_shape)",
        )
    if not np.isfinite(array.astype(np.float64)).all():
        raise InputError(
            f"calibration data for input {name!r} contains NaN or Inf",
            hint="remove non-finite samples",
        )
    kind = "int64" if array.dtype.kind in "iu" else "bool" if array.dtype.kind == "b" else None
    dtype = kind or ("float64" if array.dtype == np.float64 else "float32")
    shape = tuple(array.shape[1:])
    numel = math.prod(shape)
    flat = array.reshape(len(array), -1).astype(np.float64)
    names = [name] if shape == () else [f"{name}{i}" for i in range(numel)]
    elements = tuple(
        Element(n, Range(float(flat[:, i].min()), float(flat[:, i].max())))
        for i, n in enumerate(names)
    )
    return InputSpec(name, dtype, shape, elements, array.astype(_numpy_dtype(dtype)), text)
