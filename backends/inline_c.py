"""The inline C form of a closed-form library: the formula as a `static inline` function in the
header, so a C caller compiles it into its own code (no call through the PLT; a loop around it can
vectorise), e.g. `int64_t modadd_inline(int64_t a, int64_t b)`.

It mirrors closed_forms.ExprEmitter operation for operation — the same lanes (int64 or double), the
same order of evaluation, Python's floor semantics for mod and // (C's % and / truncate), the same
rewrites from the verified bounds (x mod m as a compare-subtract) — so it computes what the
library's scalar entry computes. `compile_inline` builds it with the system C compiler, so that the
caller can check it on the verification points before the header is written.
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy
from nnc.errors import BackendError
from nnc.expr_ranges import integer_range
from nnc.graph import Graph
from nnc.ops import is_integer_dtype

from .abi import Abi
from .aot import linker_command, run_compiler
from .binding import double_pointer, eval_batch_pointer
from .closed_forms import FUNCTIONS
from .interface import scalar_closed_form

__all__ = ["CHECK_FLAGS", "InlineForm", "compile_inline", "inline_form"]

CHECK_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror")
_C_TYPES = {"i": "int64_t", "f": "double", "b": "int"}  # value kinds: int64 lane, double, condition
_COMPARISONS = {  # sympy relational → C operator
    "StrictLessThan": "<",
    "LessThan": "<=",
    "StrictGreaterThan": ">",
    "GreaterThan": ">=",
    "Equality": "==",
    "Unequality": "!=",
}
_LOGIC = {"And": "&", "Or": "|", "Xor": "^"}  # on conditions, which are 0 or 1
_LIBM = {
    name: symbol.removeprefix("llvm.").removesuffix(".f64") for name, symbol in FUNCTIONS.items()
}
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_RESERVED = frozenset(  # C99 and C++ keywords: a parameter may not be called that in either
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while bool catch class delete false friend mutable namespace new
    operator private protected public template this throw true try typename using virtual and or
    not xor""".split()  # noqa: SIM905 - a list of words reads better as words
)


@dataclass(frozen=True)
class InlineForm:
    """The C definition of NAME_inline and the closed form it computes."""

    name: str
    source: str
    uses_libm: bool  # the header must include <math.h>


@dataclass(frozen=True)
class _Value:
    text: str  # a C identifier or literal
    kind: str  # "i", "f" or "b"


class _CEmitter:
    """Statements `const T tN = ...;` for one expression, mirroring ExprEmitter's instructions."""

    def __init__(
        self, symbols: dict[str, _Value], integer: bool, bounds: dict[str, tuple[int, int]]
    ) -> None:
        self.symbols, self.bounds = symbols, bounds
        self.lane = "i" if integer else "f"
        self.lines: list[str] = []
        self.uses_libm = False
        self.used: dict[str, _Value] = {}  # symbol → the parameter in the lane, on first use

    def emit(self, expr: sympy.Basic) -> _Value:
        name = type(expr).__name__
        if name in _COMPARISONS:
            return self._compare(expr, _COMPARISONS[name])
        if name in _LOGIC:
            return self._logic(expr, _LOGIC[name])
        for cls in type(expr).__mro__:
            method = getattr(self, f"_emit_{cls.__name__}", None)
            if method is not None:
                return method(expr)
        raise BackendError(f"nnc cannot write {type(expr).__name__} in {expr} as C")

    def value(self, expr: sympy.Basic) -> _Value:
        """The expression as a number in the lane (conditions become 0/1), as ExprEmitter.value."""
        return self.convert(self.emit(expr), self.lane)

    def condition(self, expr: sympy.Basic) -> _Value:
        result = self.emit(expr)
        return result if result.kind == "b" else self._let(f"{result.text} != 0", "b")

    def convert(self, value: _Value, kind: str) -> _Value:
        if value.kind == kind:
            return value
        return self._let(f"({_C_TYPES[kind]}){value.text}", kind)

    def _let(self, text: str, kind: str) -> _Value:
        name = f"t{len(self.lines)}"
        self.lines.append(f"const {_C_TYPES[kind]} {name} = {text};")
        return _Value(name, kind)

    def _literal(self, number: sympy.Basic) -> _Value:
        if self.lane == "i":
            return _Value(_int_literal(int(number)), "i")
        return self._float(float(number))

    def _float(self, value: float) -> _Value:
        text = _float_literal(value)
        self.uses_libm |= not text[-1].isdigit()  # INFINITY and NAN come from <math.h>
        return _Value(text, "f")

    def _call(self, name: str, args: list[_Value]) -> _Value:
        self.uses_libm = True
        return self._let(f"{name}({', '.join(a.text for a in args)})", "f")

    # --- atoms ------------------------------------------------------------------------------
    def _emit_Symbol(self, expr: sympy.Symbol) -> _Value:
        if expr.name not in self.used:
            self.used[expr.name] = self.convert(self.symbols[expr.name], self.lane)
        return self.used[expr.name]

    def _emit_Integer(self, expr: sympy.Integer) -> _Value:
        return self._literal(expr)

    def _emit_Number(self, expr: sympy.Number) -> _Value:
        if self.lane == "i":
            raise BackendError(f"non-integer constant {expr} in an integer program")
        return self._literal(expr)

    def _emit_NumberSymbol(self, expr: sympy.Basic) -> _Value:  # pi, E
        return self._float(float(expr))

    def _emit_Function(self, expr: sympy.Basic) -> _Value:
        name = _LIBM.get(type(expr).__name__)
        if name is None or self.lane == "i":
            raise BackendError(f"nnc cannot write {type(expr).__name__} in {expr} as C")
        return self._call(name, [self.value(a) for a in expr.args])

    def _emit_BooleanTrue(self, expr: sympy.Basic) -> _Value:
        return _Value("1", "b")

    def _emit_BooleanFalse(self, expr: sympy.Basic) -> _Value:
        return _Value("0", "b")

    # --- arithmetic -------------------------------------------------------------------------
    def _chain(self, expr: sympy.Basic, operator: str) -> _Value:
        """a op b op c: C evaluates it left to right, as ExprEmitter folds it."""
        values = [self.value(a).text for a in expr.args]
        return self._let(f" {operator} ".join(values), self.lane)

    def _emit_Add(self, expr: sympy.Add) -> _Value:
        return self._chain(expr, "+")

    def _emit_Mul(self, expr: sympy.Mul) -> _Value:
        return self._chain(expr, "*")

    def _emit_Pow(self, expr: sympy.Pow) -> _Value:
        base, exponent = expr.args
        if exponent.is_Integer and 0 <= int(exponent) <= 16:
            if int(exponent) == 0:
                return self._literal(sympy.Integer(1))
            factor = self.value(base)
            if int(exponent) == 1:
                return factor
            return self._let(" * ".join([factor.text] * int(exponent)), self.lane)
        if self.lane == "i":
            raise BackendError(f"{expr} is not an integer power")
        if exponent == sympy.Rational(1, 2):
            return self._call("sqrt", [self.value(base)])
        if exponent.is_Integer and int(exponent) < 0:
            return self._let(f"1.0 / {self.value(base**-exponent).text}", "f")
        return self._call("pow", [self.value(base), self.value(exponent)])

    def _emit_Mod(self, expr: sympy.Mod) -> _Value:
        """Python's x mod m: the remainder takes the sign of m; bounds make it a compare-subtract."""
        interval = integer_range(expr.args[0], self.bounds)
        modulus = expr.args[1]
        if self.lane == "i" and interval and modulus.is_Integer and int(modulus) > 0:
            low, high = interval
            if 0 <= low and high < int(modulus):
                return self.value(expr.args[0])
            if 0 <= low and high < 2 * int(modulus):
                x, m = self.value(expr.args[0]).text, self.value(modulus).text
                return self._let(f"{x} >= {m} ? {x} - {m} : {x}", "i")
        x, m = (self.value(a).text for a in expr.args)
        if self.lane == "f":
            self.uses_libm = True
            r = self._let(f"fmod({x}, {m})", "f").text
            return self._let(f"({r} != 0 && (({r} < 0) != ({m} < 0))) ? {r} + {m} : {r}", "f")
        r = self._let(f"{x} % {m}", "i").text
        return self._let(f"({r} != 0 && ({r} ^ {m}) < 0) ? {r} + {m} : {r}", "i")

    def _emit_floor(self, expr: sympy.Basic) -> _Value:
        numerator, denominator = sympy.fraction(expr.args[0])
        if self.lane == "i" and denominator != 1:
            x, y = self.value(numerator).text, self.value(denominator).text
            q, r = self._let(f"{x} / {y}", "i").text, self._let(f"{x} % {y}", "i").text
            return self._let(f"{q} - ({r} != 0 && ({r} ^ {y}) < 0)", "i")
        if self.lane == "i":
            return self.value(expr.args[0])
        return self._call("floor", [self.value(expr.args[0])])

    def _extremum(self, expr: sympy.Basic, compare: str, function: str) -> _Value:
        values = [self.value(a) for a in expr.args]
        result = values[0]
        for v in values[1:]:
            if self.lane == "i":
                result = self._let(
                    f"{result.text} {compare} {v.text} ? {result.text} : {v.text}", "i"
                )
            else:
                result = self._call(function, [result, v])
        return result

    def _emit_Min(self, expr: sympy.Basic) -> _Value:
        return self._extremum(expr, "<", "fmin")

    def _emit_Max(self, expr: sympy.Basic) -> _Value:
        return self._extremum(expr, ">", "fmax")

    def _emit_Piecewise(self, expr: sympy.Piecewise) -> _Value:
        result = None
        for value, condition in reversed(expr.args):
            current = self.value(value)
            if result is None:
                result = current
            else:
                test = self.condition(condition).text
                result = self._let(f"{test} ? {current.text} : {result.text}", self.lane)
        assert result is not None
        return result

    # --- conditions: C's comparisons are ordered, != unordered, as ExprEmitter's --------------
    def _compare(self, expr: sympy.Basic, operator: str) -> _Value:
        x, y = (self.value(a).text for a in expr.args)
        return self._let(f"{x} {operator} {y}", "b")

    def _logic(self, expr: sympy.Basic, operator: str) -> _Value:
        return self._let(f" {operator} ".join(self.condition(a).text for a in expr.args), "b")

    def _emit_Not(self, e: sympy.Basic) -> _Value:
        return self._let(f"!{self.condition(e.args[0]).text}", "b")


def inline_form(graph: Graph, abi: Abi) -> InlineForm | None:
    """NAME_inline for a library whose output is one closed form of its scalar arguments (the
    case where entrypoints.py emits the scalar entry from the expression itself), else None."""
    node = scalar_closed_form(graph)
    if abi.scalar_args is None or node is None:
        return None
    names = _parameter_names(abi)
    symbols = {
        a.name: _Value(c_name, "i" if a.integer else "f")
        for a, c_name in zip(abi.scalar_args, names)
    }
    emitter = _CEmitter(symbols, is_integer_dtype(node.dtype), node.attrs.get("bounds") or {})
    result = emitter.convert(emitter.value(node.attrs["expr"]), "i" if abi.output_integer else "f")
    params = ", ".join(
        f"{_C_TYPES[s.kind]} {s.text}" for s in (symbols[a.name] for a in abi.scalar_args)
    )
    unused = [s.text for name, s in symbols.items() if name not in emitter.used]
    body = [f"(void){name};" for name in unused] + emitter.lines + [f"return {result.text};"]
    name = abi.inline
    source = "\n".join(
        [f"static inline {_C_TYPES[result.kind]} {name}({params or 'void'}) {{"]
        + [f"    {line}" for line in body]
        + ["}"]
    )
    return InlineForm(name, source, emitter.uses_libm)


def compile_inline(header: str, abi: Abi, folder: Path) -> Any:
    """Build a check library from the header text: `int check(n, x, y)` applies NAME_inline to n
    rows of doubles as NAME_eval_batch lays them out. Returns a callable rows → outputs."""
    prefix = abi.prefix
    arguments = ", ".join(f"({a.c_type})row[{a.position}]" for a in abi.scalar_args or ())
    (folder / f"{prefix}.h").write_text(header)
    source = folder / "check.c"
    source.write_text(
        f'#include "{prefix}.h"\n\n'
        "int nnc_inline_check(int64_t n, const double *x, double *y);\n"
        "int nnc_inline_check(int64_t n, const double *x, double *y) {\n"
        "    for (int64_t i = 0; i < n; i++) {\n"
        f"        const double *row = x + i * {abi.input_numel};\n"
        f"        y[i] = (double){abi.inline}({arguments});\n"
        "    }\n"
        "    return 0;\n"
        "}\n"
    )
    library = folder / "check.so"
    command = [*linker_command(), *CHECK_FLAGS, "-shared", "-fPIC", str(source), "-o", str(library)]
    result = run_compiler([*command, "-lm"], folder)
    if result.returncode != 0:
        raise BackendError(
            f"the inline C form does not compile ({' '.join(command)}): "
            f"{result.stderr.strip()[:800]}",
            hint="this is a bug in nnc's C emitter; save(..., header=False) skips the header",
        )
    handle = ctypes.CDLL(str(library))
    check = eval_batch_pointer(ctypes.cast(handle.nnc_inline_check, ctypes.c_void_p).value or 0)

    def run(rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        out = np.empty(len(rows), dtype=np.float64)
        check(len(rows), double_pointer(rows), double_pointer(out))
        return out

    run.keepalive = handle  # type: ignore[attr-defined]
    return run


def _parameter_names(abi: Abi) -> list[str]:
    """The scalar arguments' names, or argK where a name is no identifier in C and C++ (or would
    collide with the temporaries tN)."""
    names = []
    for k, arg in enumerate(abi.scalar_args or ()):
        usable = _IDENTIFIER.match(arg.name) and arg.name not in _RESERVED
        usable = usable and not re.fullmatch(r"t\d+", arg.name)
        names.append(arg.name if usable else f"arg{k}")
    return names


def _int_literal(value: int) -> str:
    if not -(2**63) <= value < 2**63:
        raise BackendError(f"the integer constant {value} does not fit int64")
    if value == -(2**63):
        return "INT64_MIN"
    if -(2**31) < value < 2**31:
        return str(value)
    return f"INT64_C({value})"


def _float_literal(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if value in (float("inf"), float("-inf")):
        return "INFINITY" if value > 0 else "-INFINITY"
    return repr(value)
