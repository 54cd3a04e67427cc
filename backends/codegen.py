"""Graph → LLVM IR: one emitter per op computes a node's values for a tile of samples.

Values compute in the kernel's lanes (kernel.py): int64 for integers and booleans; float or double
for floating values, by the precision. Dispatch is by table: op category → emitter, op → scalar
instruction, written once for both float widths. Matmuls against constant weights run as
packed-panel GEMMs over the whole tile (gemm.py), their bias and activation in the GEMM's epilogue
(fusion.py decides which); softmax and layer norm run row by row in one loop nest (rows.py);
float exp, tanh and sigmoid are inline (lane_math.py), so loops over them vectorise; convolutions
that are matmuls in disguise run as implicit-im2col GEMMs (linear.py), other convolutions and
pooling in windows.py. The kernel builder (loops, buffers, the workspace, lane conversion) is
backends/kernel.py; closed forms (EXPR/TABLE) emit in backends/closed_forms.py, rounded division,
remainders and bit operations in backends/arithmetic.py, the automaton in backends/automaton.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from llvmlite import ir
from nnc.graph import Graph, Node
from nnc.ops import OP_TABLE, Op

from .arithmetic import ARITHMETIC
from .automaton import emit_automaton
from .closed_forms import emit_expr, emit_table
from .isa import Isa
from .kernel import (
    ALIGNMENT,
    F32,
    F64,
    I8,
    I64,
    Buffer,
    Emitter,
    Kernel,
    WorkspacePlan,
    broadcast_strides,
    call_math,
    constant_bytes,
    convert,
    i64,
    is_float,
    lane_of,
    row_types,
    strides,
)
from .lane_math import LANE_FUNCTIONS
from .linear import emit_linear, linear_plans, relu
from .padding import explicit_padding
from .rows import emit_rows, plan_rows
from .vector_pool import emit_vector_max_pool, vectorises_pool
from .windows import emit_conv, emit_pool

__all__ = ["EMITTERS", "emit_kernel", "kernel_plan"]

_STORAGE = {"float32": F32, "float16": F32, "bfloat16": F32, "float64": F64}
_NUMPY_STORAGE = {F32: "<f4", F64: "<f8", I64: "<i8"}


def emit_kernel(
    module: ir.Module,
    graph: Graph,
    tile: int,
    input_numel: int,
    name: str,
    precision: str = "double",
    isa: Isa | None = None,
    rows: tuple[ir.Type, ir.Type] | None = None,
) -> Kernel:
    """The kernel computing up to `tile` samples of the graph (internal linkage), fully emitted;
    with a vector unit to shape them for, matmuls against constants become tile GEMMs. `rows`:
    the element types of x and y, when not the lanes of the inputs and output."""
    graph = _for_gemms(graph, isa)
    plans, epilogue_of, groups, shares, inside = _fusion(graph, precision, isa)
    k = Kernel(module, graph, tile, input_numel, name, precision, shares, inside, rows)
    packed = _read_only_by_gemms(graph, plans, epilogue_of)
    for node in graph.nodes():
        if node.name in packed:  # its values live in the GEMMs' packed panels and bias
            continue
        if node.name in plans:
            assert isa is not None
            k.buffers[node.name] = emit_linear(k, plans[node.name], isa)
        elif node.name in epilogue_of:  # computed in place by its GEMM's epilogue
            k.buffers[node.name] = k.buffers[epilogue_of[node.name].matmul].view(node.shape)
        elif node.op is Op.POOL and isa is not None and vectorises_pool(k, node, isa):
            k.buffers[node.name] = emit_vector_max_pool(k, node, isa)
        elif node.name in groups:
            k.buffers[node.name] = emit_rows(k, groups[node.name])
        elif node.name in inside:  # a softmax's or layer norm's inner value: never stored
            continue
        else:
            emitter = EMITTERS[node.op if node.op in EMITTERS else OP_TABLE[node.op].category]
            k.buffers[node.name] = emitter(k, node)
    _store_output(k)
    k.finish()
    return k


def _fusion(graph: Graph, precision: str, isa: Isa | None) -> tuple[dict, dict, dict, dict, dict]:
    """(GEMM plans, node → the GEMM whose epilogue computes it, row groups, node → the node whose
    bytes it shares, node → the node whose emitter computes it): what shapes the workspace."""
    plans = linear_plans(graph, precision) if isa is not None else {}
    epilogue_of = {name: plan for plan in plans.values() for name in plan.absorbed}
    shares = {name: plan.matmul for name, plan in epilogue_of.items()}
    groups = plan_rows(graph)
    inside = {n: plan.output for plan in groups.values() for n in plan.nodes if n != plan.output}
    return plans, epilogue_of, groups, shares, inside


def _read_only_by_gemms(graph: Graph, plans: dict, epilogue_of: dict) -> set[str]:
    """Constants that only GEMMs read (weights, biases): emitting them too would put every weight
    in the module twice (measured: 179 instead of ~70 bytes of compile memory per parameter)."""
    out = set()
    for node in graph.nodes():
        if node.op is not Op.CONST or node.name in graph.outputs:
            continue
        users = graph.users(node.name)
        if users and all(
            (u in plans and graph[u].inputs[0] != node.name) or u in epilogue_of for u in users
        ):
            out.add(node.name)
    return out


def _for_gemms(graph: Graph, isa: Isa | None) -> Graph:
    """The graph as the kernel computes it: with a vector unit, padded convolutions read an
    explicitly padded input, so that they run as GEMMs too."""
    return explicit_padding(graph) if isa is not None else graph


def kernel_plan(
    graph: Graph,
    tile: int,
    precision: str = "double",
    isa: Isa | None = None,
    rows: tuple[ir.Type, ir.Type] | None = None,
) -> tuple[WorkspacePlan, ir.Type, ir.Type]:
    """(workspace plan, x row type, y row type) of the kernel `emit_kernel` emits with these
    arguments, without emitting it: what the entry points' working memory is computed from."""
    graph = _for_gemms(graph, isa)
    _, _, _, shares, inside = _fusion(graph, precision, isa)
    inputs = [graph[name].dtype for name in graph.inputs]
    x_type, y_type = rows or row_types(inputs, graph[graph.outputs[0]].dtype, precision)
    lane = functools.partial(lane_of, precision=precision)
    return WorkspacePlan(graph, tile, lane, x_type, shares, inside), x_type, y_type


def _store_output(k: Kernel) -> None:
    """y[s, i] = output[s, i], in the kernel's output row type."""
    (name,) = k.graph.outputs
    source = k.buffers[name]
    numel = math.prod(source.shape)
    y = Buffer(k.y, k.y_type, k.y_type, source.shape, numel)
    with k.samples(), k.loop(numel) as i:
        k.store(y, i, k.load(source, i, k.y_type))


# --- sources ----------------------------------------------------------------------------------


def _emit_input(k: Kernel, node: Node) -> Buffer:
    """Inputs computing in the row type of x are read in place; others convert once."""
    x = k.allocas.gep(k.x, [i64(k.x_offset)], source_etype=k.x_type)
    k.x_offset += node.numel
    view = Buffer(x, k.x_type, k.x_type, node.shape, k.input_numel)
    lane = k.lane(node.dtype)
    if lane == k.x_type:
        return view
    out = k.new_buffer(node)
    with k.samples(), k.loop(node.numel) as i:
        k.store(out, i, k.load(view, i, lane))
    return out


def _emit_const(k: Kernel, node: Node) -> Buffer:
    """An internal constant global in the value's own precision, shared by every kernel (its bytes
    as the initializer: quick to print and parse however large)."""
    storage = _STORAGE.get(node.dtype, I64)
    assert node.value is not None
    flat = node.value.detach().reshape(-1)
    values = (flat.long() if storage is I64 else flat.double()).numpy()
    table = constant_bytes(k.module, f"const_{node.name}", values.astype(_NUMPY_STORAGE[storage]))
    return Buffer(table, storage, k.lane(node.dtype), node.shape, 0)


# --- elementwise ------------------------------------------------------------------------------


def _suffix(kind: ir.Type) -> str:
    return "f32" if kind == F32 else "f64"


def _intrinsic(name: str) -> Callable[[Kernel, Sequence[ir.Value]], ir.Value]:
    """An element emitter calling llvm.<name> for the argument's float width."""
    return lambda k, a: call_math(k.b, k.module, f"llvm.{name}.{_suffix(a[0].type)}", a)


def _libm(name: str) -> Callable[[Kernel, Sequence[ir.Value]], ir.Value]:
    """An element emitter calling libm's `name` (double) or `name`f (float)."""
    return lambda k, a: call_math(k.b, k.module, name if a[0].type == F64 else f"{name}f", a)


def _inline_for_float(name: str, double: Callable) -> Callable:
    """lane_math's inline `name` for float lanes (vectorisable), `double` for double ones."""
    return lambda k, a: LANE_FUNCTIONS[name](k.b, a[0]) if a[0].type == F32 else double(k, a)


def _one(value: ir.Value) -> ir.Constant:
    return ir.Constant(value.type, 1.0)


def _sigmoid(k: Kernel, a: Sequence[ir.Value]) -> ir.Value:
    exp = _intrinsic("exp")(k, [k.b.fneg(a[0])])
    return k.b.fdiv(_one(a[0]), k.b.fadd(_one(a[0]), exp))


def _rsqrt(k: Kernel, a: Sequence[ir.Value]) -> ir.Value:
    return k.b.fdiv(_one(a[0]), _intrinsic("sqrt")(k, a))


def _truth(k: Kernel, value: ir.Value) -> ir.Value:
    """value != 0 as i1, in any lane."""
    if is_float(value.type):
        return k.b.fcmp_unordered("!=", value, ir.Constant(value.type, 0.0))
    return k.b.icmp_signed("!=", value, i64(0))


def _logic(fn: Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]) -> Callable:
    return lambda k, a: k.b.zext(fn(k.b, _truth(k, a[0]), _truth(k, a[1])), I64)


def _compare(op: str) -> Callable:
    def emit(k: Kernel, a: Sequence[ir.Value]) -> ir.Value:
        if is_float(a[0].type):
            bit = (k.b.fcmp_unordered if op == "!=" else k.b.fcmp_ordered)(op, a[0], a[1])
        else:
            bit = k.b.icmp_signed(op, a[0], a[1])
        return k.b.zext(bit, I64)

    return emit


def _select_by(op: str) -> Callable:
    """max/min for integers: a op b ? a : b."""
    return lambda k, a: k.b.select(k.b.icmp_signed(op, a[0], a[1]), a[0], a[1])


def _int_pow(k: Kernel, a: Sequence[ir.Value]) -> ir.Value:
    base, exponent = (k.b.sitofp(v, F64) for v in a)
    return k.b.fptosi(_intrinsic("pow")(k, [base, exponent]), I64)


_ZERO_I = i64(0)

# op → how to compute one element in a float or double lane, and in the int64 lane
_FLOAT: dict[Op, Callable] = {
    Op.NEG: lambda k, a: k.b.fneg(a[0]),
    Op.ABS: _intrinsic("fabs"),
    Op.EXP: _inline_for_float("exp", _intrinsic("exp")),
    Op.LOG: _intrinsic("log"),
    Op.LOG1P: _libm("log1p"),
    Op.SIN: _intrinsic("sin"),
    Op.COS: _intrinsic("cos"),
    Op.SQRT: _intrinsic("sqrt"),
    Op.RSQRT: _rsqrt,
    Op.TANH: _inline_for_float("tanh", _libm("tanh")),
    Op.SIGMOID: _inline_for_float("sigmoid", _sigmoid),
    Op.RELU: lambda k, a: relu(k.b, a[0]),
    Op.ERF: _libm("erf"),
    Op.ADD: lambda k, a: k.b.fadd(a[0], a[1]),
    Op.SUB: lambda k, a: k.b.fsub(a[0], a[1]),
    Op.MUL: lambda k, a: k.b.fmul(a[0], a[1]),
    Op.DIV: lambda k, a: k.b.fdiv(a[0], a[1]),
    Op.POW: _intrinsic("pow"),
    Op.MAXIMUM: _intrinsic("maximum"),
    Op.MINIMUM: _intrinsic("minimum"),
}
_INT: dict[Op, Callable] = {
    Op.NEG: lambda k, a: k.b.sub(_ZERO_I, a[0]),
    Op.ABS: lambda k, a: k.b.select(
        k.b.icmp_signed("<", a[0], _ZERO_I), k.b.sub(_ZERO_I, a[0]), a[0]
    ),
    Op.RELU: lambda k, a: k.b.select(k.b.icmp_signed("<", a[0], _ZERO_I), _ZERO_I, a[0]),
    Op.ADD: lambda k, a: k.b.add(a[0], a[1]),
    Op.SUB: lambda k, a: k.b.sub(a[0], a[1]),
    Op.MUL: lambda k, a: k.b.mul(a[0], a[1]),
    Op.POW: _int_pow,
    Op.MAXIMUM: _select_by(">"),
    Op.MINIMUM: _select_by("<"),
}
# ops whose operands are compared in a common lane; the result is 0/1 in the int64 lane
_PREDICATES: dict[Op, Callable] = {
    Op.EQ: _compare("=="),
    Op.NE: _compare("!="),
    Op.LT: _compare("<"),
    Op.LE: _compare("<="),
    Op.GT: _compare(">"),
    Op.GE: _compare(">="),
    Op.AND: _logic(lambda b, x, y: b.and_(x, y)),
    Op.OR: _logic(lambda b, x, y: b.or_(x, y)),
    Op.NOT: lambda k, a: k.b.zext(k.b.not_(_truth(k, a[0])), I64),
}


def _cast(k: Kernel, node: Node, value: ir.Value) -> ir.Value:
    """torch's conversion to node.dtype: float32 rounding, integer wrap-around, bool as != 0."""
    dtype = node.dtype
    if dtype == "bool":
        return k.b.zext(_truth(k, value), I64)
    lane = k.lane(dtype)
    if dtype in ("float32", "float16", "bfloat16") and lane == F64:  # rounded, kept in double
        return k.b.fpext(k.b.fptrunc(convert(k.b, value, F64), F32), F64)
    if dtype in ("int32", "int16", "int8", "uint8"):
        narrow = ir.IntType(int("".join(c for c in dtype if c.isdigit())))
        wide = k.b.trunc(convert(k.b, value, I64), narrow)
        return (k.b.zext if dtype == "uint8" else k.b.sext)(wide, I64)
    return convert(k.b, value, lane)


def _common_lane(sources: Sequence[Buffer]) -> ir.Type:
    """Where operands of a comparison meet: the widest float lane among them, else int64."""
    floats = [s.lane for s in sources if is_float(s.lane)]
    return (F64 if F64 in floats else F32) if floats else I64


def _emit_elementwise(k: Kernel, node: Node) -> Buffer:
    out = k.new_buffer(node)
    sources = [k.buffers[i] for i in node.inputs]
    lanes = [out.lane] * len(sources)
    if node.op in _PREDICATES:
        lanes = [_common_lane(sources)] * len(sources)
    if node.op in (Op.CAST, Op.WHERE):
        lanes[0] = sources[0].lane  # converted by the op itself
    sizes, (out_strides, *source_strides) = _coalesced(
        node.shape,
        [strides(node.shape), *(broadcast_strides(s.shape, len(node.shape)) for s in sources)],
    )
    with k.samples(), k.nest(sizes) as index:
        values = [
            k.load(s, k.offset(index, st), lane)
            for s, st, lane in zip(sources, source_strides, lanes)
        ]
        value = _element(k, node, lanes[-1], values)
        if node.dtype in _NARROW_INTEGERS and node.op is not Op.CAST:
            value = _cast(k, node, value)  # int64 lanes wrap around as the node's type does
        k.store(out, k.offset(index, out_strides), value)
    return out


def _coalesced(
    shape: Sequence[int], operand_strides: list[list[int]]
) -> tuple[list[int], list[list[int]]]:
    """The loop nest over `shape` with axes merged wherever every operand steps through them as
    through one (contiguous, or repeated along both): a (6, 28, 28) ReLU is one loop of 4,704
    elements, vectorised without a scalar remainder every 28; a per-channel scale keeps the
    channel loop and one inner loop of 784."""
    axes = [(size, [st[d] for st in operand_strides]) for d, size in enumerate(shape) if size != 1]
    merged: list[tuple[int, list[int]]] = []
    for size, steps in axes:
        if merged:
            outer_size, outer_steps = merged[-1]
            if all(o == i * size for o, i in zip(outer_steps, steps)):
                merged[-1] = (outer_size * size, steps)
                continue
        merged.append((size, steps))
    sizes = [size for size, _ in merged]
    return sizes, [[steps[j] for _, steps in merged] for j in range(len(operand_strides))]


_NARROW_INTEGERS = frozenset({"int32", "int16", "int8", "uint8"})


def _element(k: Kernel, node: Node, lane: ir.Type, values: list[ir.Value]) -> ir.Value:
    if node.op is Op.CAST:
        return _cast(k, node, values[0])
    if node.op is Op.WHERE:
        return k.b.select(_truth(k, values[0]), values[1], values[2])
    if node.op in _PREDICATES:
        return _PREDICATES[node.op](k, values)
    if (node.op, is_float(lane)) in ARITHMETIC:
        return ARITHMETIC[(node.op, is_float(lane))](k, node, values)
    table = _FLOAT if is_float(lane) else _INT
    if node.op not in table:  # e.g. exp of an integer tensor computes in double
        return _FLOAT[node.op](k, [convert(k.b, v, F64) for v in values])
    return table[node.op](k, values)


# --- reductions ------------------------------------------------------------------------------


def _emit_reduction(k: Kernel, node: Node) -> Buffer:
    source = k.buffers[node.inputs[0]]
    dims = tuple(node.attrs["dims"])
    keep = [d for d in range(len(source.shape)) if d not in dims]
    out = k.new_buffer(node)
    lane = source.lane
    if node.op is Op.ARGMAX or (node.op is Op.SUM and lane == F32):
        lane = F64  # float sums accumulate in double: nearer the exact sum than torch's own
    accumulator = k.scratch(lane)
    best_index = k.scratch(I64)
    source_strides = strides(source.shape)
    out_shape = [source.shape[d] for d in keep]
    with k.samples(), k.nest(out_shape) as outer:
        k.b.store(_reduction_start(node.op, lane), accumulator)
        k.b.store(i64(0), best_index)
        with k.nest([source.shape[d] for d in dims]) as inner:
            index = dict(zip(keep, outer)) | dict(zip(dims, inner))
            offset = k.offset([index[d] for d in range(len(source.shape))], source_strides)
            value = k.load(source, offset, lane)
            current = k.b.load(accumulator, typ=lane)
            if node.op is Op.ARGMAX:
                position = k.offset(inner, strides([source.shape[d] for d in dims]))
                better = k.b.fcmp_ordered(">", value, current)
                k.b.store(k.b.select(better, value, current), accumulator)
                k.b.store(k.b.select(better, position, k.b.load(best_index, typ=I64)), best_index)
            else:
                k.b.store(_REDUCERS[(node.op, is_float(lane))](k, [current, value]), accumulator)
        result = k.b.load(
            best_index if node.op is Op.ARGMAX else accumulator,
            typ=I64 if node.op is Op.ARGMAX else lane,
        )
        k.store(out, k.offset(outer, strides(out_shape)), result)
    return out


_START = {  # (op, float lane) → the identity the accumulator starts from
    (Op.SUM, True): 0.0,
    (Op.SUM, False): 0,
    (Op.AMAX, True): -math.inf,
    (Op.AMAX, False): -(2**63),
    (Op.AMIN, True): math.inf,
    (Op.AMIN, False): 2**63 - 1,
    (Op.ARGMAX, True): -math.inf,
}


def _reduction_start(op: Op, lane: ir.Type) -> ir.Constant:
    return ir.Constant(lane, _START[(op, is_float(lane))])


_REDUCERS = {
    (Op.SUM, True): _FLOAT[Op.ADD],
    (Op.SUM, False): _INT[Op.ADD],
    (Op.AMAX, True): _FLOAT[Op.MAXIMUM],
    (Op.AMAX, False): _INT[Op.MAXIMUM],
    (Op.AMIN, True): _FLOAT[Op.MINIMUM],
    (Op.AMIN, False): _INT[Op.MINIMUM],
}


# --- matmul ---------------------------------------------------------------------------------


def _emit_matmul(k: Kernel, node: Node) -> Buffer:
    """out[..., i, j] = sum_k a[..., i, k] b[..., k, j]; j innermost so LLVM can vectorise it."""
    a, b = (k.buffers[i] for i in node.inputs)
    a_shape, b_shape = _matrix(a.shape, "left"), _matrix(b.shape, "right")
    out = k.new_buffer(node)
    rows, inner, cols = a_shape[-2], a_shape[-1], b_shape[-1]
    batch = node.shape[:-2] if len(a.shape) > 1 and len(b.shape) > 1 else ()
    lane = out.lane
    with k.samples(), k.nest(batch) as bi:
        a_base = k.broadcast_offset(bi, a_shape[:-2]) if a_shape[:-2] else i64(0)
        b_base = k.broadcast_offset(bi, b_shape[:-2]) if b_shape[:-2] else i64(0)
        a_base = k.b.mul(a_base, i64(rows * inner))
        b_base = k.b.mul(b_base, i64(inner * cols))
        out_base = k.b.mul(k.offset(bi, strides(batch)), i64(rows * cols))
        with k.loop(rows) as i:
            row = k.b.add(out_base, k.b.mul(i, i64(cols)))
            with k.loop(cols) as j:
                k.store(out, k.b.add(row, j), ir.Constant(lane, 0.0 if is_float(lane) else 0))
            with k.loop(inner) as kk:
                a_value = k.load(a, k.b.add(a_base, k.b.add(k.b.mul(i, i64(inner)), kk)), lane)
                with k.loop(cols) as j:
                    b_value = k.load(b, k.b.add(b_base, k.b.add(k.b.mul(kk, i64(cols)), j)), lane)
                    target = k.b.add(row, j)
                    total = k.load(out, target, lane)
                    product = (k.b.fmul if is_float(lane) else k.b.mul)(a_value, b_value)
                    k.store(out, target, (k.b.fadd if is_float(lane) else k.b.add)(total, product))
    return out


def _matrix(shape: tuple[int, ...], side: str) -> tuple[int, ...]:
    """torch.matmul's promotion of 1-D operands to matrices."""
    if len(shape) == 1:
        return (1, shape[0]) if side == "left" else (shape[0], 1)
    return shape


# --- data movement ---------------------------------------------------------------------------


def _emit_reshape(k: Kernel, node: Node) -> Buffer:
    return k.buffers[node.inputs[0]].view(node.shape)


def _emit_gather(
    k: Kernel, node: Node, source_offset: Callable[[list[ir.Value]], ir.Value]
) -> Buffer:
    """out[index] = source[source_offset(index)]"""
    source = k.buffers[node.inputs[0]]
    out = k.new_buffer(node)
    with k.samples(), k.nest(node.shape) as index:
        value = k.load(source, source_offset(index), out.lane)
        k.store(out, k.offset(index, strides(node.shape)), value)
    return out


def _emit_permute(k: Kernel, node: Node) -> Buffer:
    source_strides = strides(k.buffers[node.inputs[0]].shape)
    permuted = [source_strides[d] for d in node.attrs["dims"]]
    return _emit_gather(k, node, lambda index: k.offset(index, permuted))


def _emit_expand(k: Kernel, node: Node) -> Buffer:
    shape = k.buffers[node.inputs[0]].shape
    return _emit_gather(k, node, lambda index: k.broadcast_offset(index, shape))


def _emit_slice(k: Kernel, node: Node) -> Buffer:
    source_strides = strides(k.buffers[node.inputs[0]].shape)
    dim, start, step = node.attrs["dim"], node.attrs["start"], node.attrs["step"]

    def source_offset(index: list[ir.Value]) -> ir.Value:
        moved = list(index)
        moved[dim] = k.b.add(i64(start), k.b.mul(index[dim], i64(step)))
        return k.offset(moved, source_strides)

    return _emit_gather(k, node, source_offset)


def _emit_take(k: Kernel, node: Node) -> Buffer:
    """x indexed along `dim` by an integer tensor; indices are clamped into range (never UB)."""
    source, idx = (k.buffers[i] for i in node.inputs)
    dim, rank = node.attrs["dim"], len(idx.shape)
    source_strides = strides(source.shape)
    size = source.shape[dim]

    def source_offset(index: list[ir.Value]) -> ir.Value:
        picked = k.load(idx, k.offset(index[dim : dim + rank], strides(idx.shape)), I64)
        picked = k.b.select(
            k.b.icmp_signed("<", picked, i64(0)), k.b.add(picked, i64(size)), picked
        )
        low = k.b.select(k.b.icmp_signed("<", picked, i64(0)), i64(0), picked)
        clamped = k.b.select(k.b.icmp_signed(">", low, i64(size - 1)), i64(size - 1), low)
        moved = [*index[:dim], clamped, *index[dim + rank :]]
        return k.offset(moved, source_strides)

    return _emit_gather(k, node, source_offset)


def _emit_cat(k: Kernel, node: Node) -> Buffer:
    out = k.new_buffer(node)
    dim, out_strides, start = node.attrs["dim"], strides(node.shape), 0
    for name in node.inputs:
        source = k.buffers[name]
        with k.samples(), k.nest(source.shape) as index:
            value = k.load(source, k.offset(index, strides(source.shape)), out.lane)
            moved = list(index)
            moved[dim] = k.b.add(index[dim], i64(start))
            k.store(out, k.offset(moved, out_strides), value)
        start += source.shape[dim]
    return out


def _emit_scan(k: Kernel, node: Node) -> Buffer:
    """The state after the cell read every token: the cell is a one-sample kernel of its own,
    called per position on one row [state | token], its next state copied back into the row."""
    cell = node.attrs["cell"]
    size, width = cell.state_size, math.prod(cell.token_shape)
    length = k.graph[node.inputs[0]].shape[1]
    name = f"nnc_cell_{node.name}"
    step = k.module.globals.get(name)
    rows = (F64, F64)  # the cell reads and writes the double row below, in the kernel's precision
    if step is None:
        step = emit_kernel(k.module, cell.graph, 1, size + width, name, k.precision, None, rows).fn
    cell_plan, _, _ = kernel_plan(cell.graph, 1, k.precision, None, rows)
    workspace = k.allocas.alloca(I8, size=i64(max(cell_plan.bytes, 1)))
    workspace.align = ALIGNMENT
    row = Buffer(k.allocas.alloca(F64, size=i64(size + width)), F64, F64, (size + width,), 0)
    after = Buffer(k.allocas.alloca(F64, size=i64(size)), F64, F64, (size,), 0)
    start = cell.initial.double()
    initial = _emit_const(
        k, Node(f"{node.name}_initial", Op.CONST, (), {}, (1, size), "float64", start)
    )
    tokens, out = k.buffers[node.inputs[0]], k.new_buffer(node)
    with k.samples():
        with k.loop(size) as j:
            k.store(row, j, k.load(initial, j, F64))
        with k.loop(length) as t:
            with k.loop(width) as e:
                position = k.b.add(k.b.mul(t, i64(width)), e)
                k.store(row, k.b.add(e, i64(size)), k.load(tokens, position, F64))
            k.b.call(step, [i64(1), row.ptr, after.ptr, workspace])
            with k.loop(size) as j:
                k.store(row, j, k.load(after, j, F64))
        with k.loop(size) as j:
            k.store(out, j, k.load(row, j, out.lane))
    return out


EMITTERS: dict[object, Emitter] = {
    Op.INPUT: _emit_input,
    Op.CONST: _emit_const,
    "elementwise": _emit_elementwise,
    "reduction": _emit_reduction,
    Op.MATMUL: _emit_matmul,
    Op.RESHAPE: _emit_reshape,
    Op.PERMUTE: _emit_permute,
    Op.EXPAND: _emit_expand,
    Op.SLICE: _emit_slice,
    Op.TAKE: _emit_take,
    Op.CAT: _emit_cat,
    Op.CONV: emit_conv,
    Op.POOL: emit_pool,
    Op.EXPR: emit_expr,
    Op.TABLE: emit_table,
    Op.AUTOMATON: emit_automaton,
    Op.SCAN: _emit_scan,
}
