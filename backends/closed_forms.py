"""Code generation for closed forms: sympy expressions (EXPR nodes) and lookup tables (TABLE nodes).

Dispatch is by sympy class name, `_emit_<Class>`, over the class's MRO, as sympy's own printers
do. Integer programs compute in int64 with Python's floor semantics for `mod` and `//`.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from llvmlite import ir
from nnc.errors import BackendError
from nnc.expr_ranges import integer_range
from nnc.graph import Node

from .kernel import F32, F64, I1, I64, Buffer, Kernel, call_math, i64

__all__ = ["FUNCTIONS", "ExprEmitter", "emit_expr", "emit_table"]


class ExprEmitter:
    """Turns one sympy expression into instructions; values are i64, double, or i1 (conditions).

    `bounds` are the verified ranges of integer symbols: with them `x mod m` becomes a compare and
    a subtract when 0 ≤ x < 2m, and disappears when 0 ≤ x < m.
    """

    def __init__(
        self,
        b: ir.IRBuilder,
        module: ir.Module,
        symbols: dict[str, ir.Value],
        lane: ir.Type,
        bounds: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self.b, self.module, self.symbols, self.lane = b, module, symbols, lane
        self.bounds = bounds or {}

    def emit(self, expr: sympy.Basic) -> ir.Value:
        for cls in type(expr).__mro__:
            method = getattr(self, f"_emit_{cls.__name__}", None)
            if method is not None:
                return method(expr)
        raise BackendError(
            f"nnc cannot generate code for {type(expr).__name__} in {expr}",
            hint="this closed form uses a function the backend lacks; report it",
        )

    def value(self, expr: sympy.Basic) -> ir.Value:
        """The expression as a number in the lane (conditions become 0/1)."""
        result = self.emit(expr)
        if result.type == I1:
            return self.b.zext(result, self.lane) if self._integer() else self.b.uitofp(result, F64)
        if result.type != self.lane:
            if self._integer() and isinstance(result.type, ir.IntType):
                return (self.b.sext if result.type.width < self.lane.width else self.b.trunc)(
                    result, self.lane
                )
            return (
                self.b.sitofp(result, F64) if self.lane == F64 else self.b.fptosi(result, self.lane)
            )
        return result

    def condition(self, expr: sympy.Basic) -> ir.Value:
        result = self.emit(expr)
        if result.type == I1:
            return result
        zero = ir.Constant(result.type, 0)
        compare = (
            self.b.icmp_signed if isinstance(result.type, ir.IntType) else self.b.fcmp_unordered
        )
        return compare("!=", result, zero)

    def _integer(self) -> bool:
        return isinstance(self.lane, ir.IntType)

    def _int(self, value: int) -> ir.Constant:
        return ir.Constant(self.lane, value)

    # --- atoms ------------------------------------------------------------------------------
    def _emit_Symbol(self, expr: sympy.Symbol) -> ir.Value:
        return self.symbols[expr.name]

    def _emit_Integer(self, expr: sympy.Integer) -> ir.Value:
        return ir.Constant(self.lane, int(expr) if self._integer() else float(expr))

    def _emit_Number(self, expr: sympy.Number) -> ir.Value:
        if self._integer():
            raise BackendError(f"non-integer constant {expr} in an integer program")
        return ir.Constant(F64, float(expr))

    def _emit_NumberSymbol(self, expr: sympy.Basic) -> ir.Value:  # pi, E
        return ir.Constant(F64, float(expr))

    def _emit_Function(self, expr: sympy.Basic) -> ir.Value:
        name = FUNCTIONS.get(type(expr).__name__)
        if name is None or self._integer():
            raise BackendError(
                f"nnc cannot generate code for {type(expr).__name__} in {expr}",
                hint="this closed form uses a function the backend lacks",
            )
        return self._call(name, [self.value(a) for a in expr.args])

    def _emit_BooleanTrue(self, expr: sympy.Basic) -> ir.Value:
        return ir.Constant(I1, 1)

    def _emit_BooleanFalse(self, expr: sympy.Basic) -> ir.Value:
        return ir.Constant(I1, 0)

    # --- arithmetic -------------------------------------------------------------------------
    def _fold(self, expr: sympy.Basic, integer: Callable, floating: Callable) -> ir.Value:
        values = [self.value(a) for a in expr.args]
        result = values[0]
        for v in values[1:]:
            result = (integer if self._integer() else floating)(result, v)
        return result

    def _emit_Add(self, expr: sympy.Add) -> ir.Value:
        return self._fold(expr, self.b.add, self.b.fadd)

    def _emit_Mul(self, expr: sympy.Mul) -> ir.Value:
        return self._fold(expr, self.b.mul, self.b.fmul)

    def _emit_Pow(self, expr: sympy.Pow) -> ir.Value:
        base, exponent = expr.args
        if exponent.is_Integer and 0 <= int(exponent) <= 16:
            result, factor = None, self.value(base)
            for _ in range(int(exponent)):
                result = (
                    factor
                    if result is None
                    else (self.b.mul if self._integer() else self.b.fmul)(result, factor)
                )
            return (
                result
                if result is not None
                else ir.Constant(self.lane, 1 if self._integer() else 1.0)
            )
        if self._integer():
            raise BackendError(f"{expr} is not an integer power")
        if exponent == sympy.Rational(1, 2):
            return self._call("llvm.sqrt.f64", [self.value(base)])
        if exponent.is_Integer and int(exponent) < 0:
            return self.b.fdiv(ir.Constant(F64, 1.0), self.value(base**-exponent))
        return self._call("llvm.pow.f64", [self.value(base), self.value(exponent)])

    def _emit_Mod(self, expr: sympy.Mod) -> ir.Value:
        """Python's x mod m: the remainder takes the sign of m."""
        interval = integer_range(expr.args[0], self.bounds)
        modulus = expr.args[1]
        if self._integer() and interval and modulus.is_Integer and int(modulus) > 0:
            low, high = interval
            if 0 <= low and high < int(modulus):
                return self.value(expr.args[0])
            if 0 <= low and high < 2 * int(modulus):
                x, m = self.value(expr.args[0]), self.value(modulus)
                return self.b.select(self.b.icmp_signed(">=", x, m), self.b.sub(x, m), x)
        x, m = (self.value(a) for a in expr.args)
        if not self._integer():
            r = self.b.frem(x, m)
            fix = self.b.and_(
                self.b.fcmp_unordered("!=", r, ir.Constant(F64, 0)),
                self.b.xor(
                    self.b.fcmp_ordered("<", r, ir.Constant(F64, 0)),
                    self.b.fcmp_ordered("<", m, ir.Constant(F64, 0)),
                ),
            )
            return self.b.select(fix, self.b.fadd(r, m), r)
        r = self.b.srem(x, m)
        fix = self.b.and_(
            self.b.icmp_signed("!=", r, self._int(0)),
            self.b.icmp_signed("<", self.b.xor(r, m), self._int(0)),
        )
        return self.b.select(fix, self.b.add(r, m), r)

    def _emit_floor(self, expr: sympy.Basic) -> ir.Value:
        numerator, denominator = sympy.fraction(expr.args[0])
        if self._integer() and denominator != 1:
            x, y = self.value(numerator), self.value(denominator)
            q, r = self.b.sdiv(x, y), self.b.srem(x, y)
            adjust = self.b.and_(
                self.b.icmp_signed("!=", r, self._int(0)),
                self.b.icmp_signed("<", self.b.xor(r, y), self._int(0)),
            )
            return self.b.sub(q, self.b.zext(adjust, self.lane))
        if self._integer():
            return self.value(expr.args[0])
        return self._call("llvm.floor.f64", [self.value(expr.args[0])])

    def _emit_Min(self, expr: sympy.Basic) -> ir.Value:
        return self._fold(
            expr,
            lambda x, y: self.b.select(self.b.icmp_signed("<", x, y), x, y),
            lambda x, y: self._call("llvm.minnum.f64", [x, y]),
        )

    def _emit_Max(self, expr: sympy.Basic) -> ir.Value:
        return self._fold(
            expr,
            lambda x, y: self.b.select(self.b.icmp_signed(">", x, y), x, y),
            lambda x, y: self._call("llvm.maxnum.f64", [x, y]),
        )

    def _emit_Piecewise(self, expr: sympy.Piecewise) -> ir.Value:
        result = None
        for value, condition in reversed(expr.args):
            current = self.value(value)
            result = (
                current
                if result is None
                else self.b.select(self.condition(condition), current, result)
            )
        return result

    # --- conditions -------------------------------------------------------------------------
    def _compare(self, expr: sympy.Basic, op: str) -> ir.Value:
        x, y = (self.value(a) for a in expr.args)
        if self._integer():
            return self.b.icmp_signed(op, x, y)
        return (self.b.fcmp_unordered if op == "!=" else self.b.fcmp_ordered)(op, x, y)

    def _emit_StrictLessThan(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, "<")

    def _emit_LessThan(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, "<=")

    def _emit_StrictGreaterThan(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, ">")

    def _emit_GreaterThan(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, ">=")

    def _emit_Equality(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, "==")

    def _emit_Unequality(self, e: sympy.Basic) -> ir.Value:
        return self._compare(e, "!=")

    def _emit_And(self, e: sympy.Basic) -> ir.Value:
        return self._logic(e, self.b.and_)

    def _emit_Or(self, e: sympy.Basic) -> ir.Value:
        return self._logic(e, self.b.or_)

    def _emit_Xor(self, e: sympy.Basic) -> ir.Value:
        return self._logic(e, self.b.xor)

    def _emit_ITE(self, e: sympy.Basic) -> ir.Value:
        """ITE(c, t, f): boolean if-then-else, as sympy's logic simplification writes it."""
        condition, then, otherwise = (self.condition(a) for a in e.args)
        return self.b.select(condition, then, otherwise)

    def _emit_Not(self, e: sympy.Basic) -> ir.Value:
        return self.b.not_(self.condition(e.args[0]))

    def _logic(self, expr: sympy.Basic, combine: Callable) -> ir.Value:
        values = [self.condition(a) for a in expr.args]
        result = values[0]
        for v in values[1:]:
            result = combine(result, v)
        return result

    def _call(self, name: str, args: list[ir.Value]) -> ir.Value:
        return call_math(self.b, self.module, name, args)


# sympy function → LLVM intrinsic or libm symbol (sympy's known_functions_C99, as symbols)
FUNCTIONS = {
    "sin": "llvm.sin.f64",
    "cos": "llvm.cos.f64",
    "exp": "llvm.exp.f64",
    "log": "llvm.log.f64",
    "Abs": "llvm.fabs.f64",
    "tanh": "tanh",
    "tan": "tan",
    "sinh": "sinh",
    "cosh": "cosh",
    "atan": "atan",
    "asin": "asin",
    "acos": "acos",
    "erf": "erf",
}


def _element(k: Kernel, node: Node, position: int, element: int, lane: ir.Type) -> ir.Value:
    return k.load(k.buffers[node.inputs[position]], i64(element), lane)


def emit_expr(k: Kernel, node: Node) -> Buffer:
    """out = expr(bound input elements): one value per sample, or one per row of the inputs'
    last dimension when the node is `rowwise` (a distilled module applied to every edge)."""
    out = k.new_buffer(node)
    lane = F64 if out.lane == F32 else out.lane  # closed forms compute in double or int64
    if not node.attrs.get("rowwise"):
        with k.samples():
            symbols = {
                name: _element(k, node, position, element, lane)
                for name, position, element in node.attrs["bindings"]
            }
            emitter = ExprEmitter(k.b, k.module, symbols, lane, node.attrs.get("bounds"))
            k.store(out, i64(0), emitter.value(node.attrs["expr"]))
        return out
    with k.samples(), k.loop(node.numel) as row:
        symbols = {}
        for name, position, element in node.attrs["bindings"]:
            source = k.buffers[node.inputs[position]]
            width = source.shape[-1]
            offset = k.b.add(k.b.mul(row, i64(width)), i64(element))
            symbols[name] = k.load(source, offset, lane)
        emitter = ExprEmitter(k.b, k.module, symbols, lane)
        k.store(out, row, emitter.value(node.attrs["expr"]))
    return out


def emit_table(k: Kernel, node: Node) -> Buffer:
    """out[0] = table[mixed-radix index of the bound elements]; indices clamp into their axis."""
    with k.samples():
        return _emit_table_sample(k, node)


def _emit_table_sample(k: Kernel, node: Node) -> Buffer:
    b = k.b
    index: ir.Value = i64(0)
    for _, position, element, values in node.attrs["axes"]:
        value = _element(k, node, position, element, I64)
        ints = [int(v) for v in values]
        if ints == list(range(ints[0], ints[0] + len(ints))):
            offset = b.sub(value, i64(ints[0]))
            offset = b.select(b.icmp_signed("<", offset, i64(0)), i64(0), offset)
            offset = b.select(
                b.icmp_signed(">", offset, i64(len(ints) - 1)), i64(len(ints) - 1), offset
            )
        else:
            offset = i64(0)
            for j, v in enumerate(ints):
                offset = b.select(b.icmp_signed("==", value, i64(v)), i64(j), offset)
        index = b.add(b.mul(index, i64(len(ints))), offset)
    table = node.attrs["table"]
    low, high = int(table.min()), int(table.max())
    bits = next(w for w in (8, 16, 32, 64) if -(2 ** (w - 1)) <= low and high < 2 ** (w - 1))
    storage = ir.IntType(bits)
    data = k.module.globals.get(f"table_{node.name}")
    if data is None:  # one global, shared by the module's kernels
        array_type = ir.ArrayType(storage, table.numel())
        data = ir.GlobalVariable(k.module, array_type, name=f"table_{node.name}")
        data.linkage, data.global_constant = "internal", True
        data.initializer = ir.Constant(array_type, [int(v) for v in table.tolist()])
    pointer = b.gep(data, [index], source_etype=storage)
    entry = b.sext(b.load(pointer, typ=storage), I64) if bits < 64 else b.load(pointer, typ=storage)
    out = k.new_buffer(node)
    k.store(out, i64(0), entry)
    return out
