"""The kernel builder every emitter shares: one LLVM function that computes a tile of samples.

    void kernel(int64_t count, const X *x, Y *y, char *workspace)

computes `count` ≤ `tile` samples at once: x holds their input rows back to back (flat row-major,
in the kernel's row type X), y receives their output rows (type Y). Every computed node owns a
buffer in the workspace, sample-major: `tile` × the node's per-sample element count, sample s at
s × numel. Constants are internal globals in their own precision, shared by all samples (sample
stride 0).

Values compute in lanes chosen by the precision: int64 for integers and booleans; in the network's
precision ("network", the default) float32 values in float and float64 ones in double, or
everything in double ("double"). Buffers store their lane. The row types X and Y are the lanes of
the inputs and of the output (double when the inputs mix types); entry points convert other rows.

An emitter writes loops with `loop` / `nest`; inside `with k.samples() as s:` every load from or
store to a per-sample buffer adds s × its sample stride, so an emitter written for one sample
computes the whole tile. An emitter that wants the tile itself (a GEMM with M = count × rows)
reads `k.count` and `Buffer.sample_stride` and indexes samples explicitly with `sample=`.

The workspace is planned before emission (`WorkspacePlan`): each buffer's bytes are reused once
its last reader has run; views (reshape, float inputs read in place) own no bytes. Entry points
allocate it — on the stack when small, with malloc when large — so the library stays reentrant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from nnc.errors import BackendError
from nnc.graph import Graph, Node
from nnc.ops import Op, is_integer_dtype

__all__ = [
    "ALIGNMENT",
    "F32",
    "F64",
    "I1",
    "I8",
    "I32",
    "I64",
    "PRECISIONS",
    "PTR",
    "Buffer",
    "Emitter",
    "Kernel",
    "WorkspacePlan",
    "broadcast_strides",
    "call_math",
    "constant_bytes",
    "convert",
    "counted",
    "i64",
    "is_float",
    "is_formula",
    "lane_bytes",
    "lane_of",
    "precision_for",
    "row_types",
    "splat",
    "strides",
]

F64, F32 = ir.DoubleType(), ir.FloatType()
I64, I32, I8, I1 = ir.IntType(64), ir.IntType(32), ir.IntType(8), ir.IntType(1)
PTR = ir.PointerType()
ALIGNMENT = 64  # bytes; every workspace buffer starts on a cache line (and a vector boundary)
PRECISIONS = ("network", "double")  # float32 values in float32 / every float value in double
_NARROW_FLOATS = ("float32", "float16", "bfloat16")  # compute in float32 in the network's precision


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def lane_of(dtype: str, precision: str = "double") -> ir.Type:
    """The lane a dtype computes in: int64 for integers and booleans; float for float32 (and
    narrower) values in the network's precision; double otherwise."""
    if is_integer_dtype(dtype):
        return I64
    return F32 if precision == "network" and dtype in _NARROW_FLOATS else F64


def is_formula(graph: Graph) -> bool:
    """Only closed forms (EXPR/TABLE nodes, a decision head) past the inputs: no layers."""
    closed = {Op.INPUT, Op.CONST, Op.EXPR, Op.TABLE, Op.ARGMAX, *VIEWS}
    return all(node.op in closed for node in graph.nodes())


def precision_for(graph: Graph, precision: str) -> str:
    """The precision a graph computes in: a closed form computes in double whatever was asked;
    it is a formula, not the network's layers."""
    return "double" if is_formula(graph) else precision


def is_float(lane: ir.Type) -> bool:
    return isinstance(lane, (ir.FloatType, ir.DoubleType))


def lane_bytes(lane: ir.Type) -> int:
    return 4 if lane in (F32, I32) else 8


def row_types(
    inputs: Sequence[str], output: str, precision: str = "double"
) -> tuple[ir.Type, ir.Type]:
    """The kernel's row types for these input dtypes and output dtype: the lanes they compute
    in, double for inputs of mixed lanes."""
    lanes = {lane_of(dtype, precision) for dtype in inputs}
    x_type = lanes.pop() if len(lanes) == 1 else F64
    return x_type, lane_of(output, precision)


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of a shape."""
    out, step = [], 1
    for size in reversed(shape):
        out.append(step)
        step *= size
    return out[::-1]


def broadcast_strides(shape: Sequence[int], rank: int) -> list[int]:
    """Element strides of a buffer of `shape` read at every index of a `rank`-dimensional result
    (numpy broadcasting: 0 along the axes it is repeated on, and the leading ones it lacks)."""
    own = [0 if size == 1 else st for size, st in zip(shape, strides(shape))]
    return [0] * (rank - len(shape)) + own


def splat(b: ir.IRBuilder, vector: ir.VectorType, value: ir.Value) -> ir.Value:
    """`value` in every lane of `vector` (insert into lane 0, shuffle with an all-zero mask: what
    the backends fold into a broadcast load or an FMA's broadcast operand)."""
    one = b.insert_element(ir.Constant(vector, ir.Undefined), value, i64(0))
    zeros = ir.Constant(ir.VectorType(I32, vector.count), None)
    return b.shuffle_vector(one, ir.Constant(vector, ir.Undefined), zeros)


def convert(b: ir.IRBuilder, value: ir.Value, to: ir.Type) -> ir.Value:
    """The one lane converter: integers widen by sign (i1 by zero) and narrow by truncation,
    integers become floats exactly where they can, floats become integers truncating toward zero
    (as torch does), floats widen or round to the other width."""
    source = value.type
    if source == to:
        return value
    integer_source, integer_target = isinstance(source, ir.IntType), isinstance(to, ir.IntType)
    if integer_source and integer_target:
        if source.width < to.width:
            return (b.zext if source.width == 1 else b.sext)(value, to)
        return b.trunc(value, to)
    if integer_source:
        return (b.uitofp if source.width == 1 else b.sitofp)(value, to)
    if integer_target:
        return b.fptosi(value, to)
    return (b.fpext if to == F64 else b.fptrunc)(value, to)


def constant_bytes(
    module: ir.Module, name: str, values: np.ndarray, align: int = ALIGNMENT
) -> ir.GlobalVariable:
    """A read-only internal global holding `values`' bytes (quick to print and parse however
    large), aligned for vector loads; the one already in the module under that name, if any (the
    single-sample and tile kernels share their constants)."""
    found = module.globals.get(name)
    if found is not None:
        return found
    data = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
    initializer = _byte_string(data if len(data) else np.zeros(1, np.uint8))
    table = ir.GlobalVariable(module, initializer.type, name=name)
    table.linkage = "internal"
    table.global_constant = True
    table.align = align
    table.initializer = initializer
    return table


# NOTE: weights are stored in the target's byte order, little-endian on every target nnc builds for
_ESCAPES = np.array([list(b"\\%02x" % byte) for byte in range(256)], dtype=np.uint8)


def _byte_string(data: np.ndarray) -> ir.Constant:
    """Bytes as the i8 string `c"\\3f\\80..."`, written by numpy straight into one buffer:
    llvmlite's own printer costs a Python string per byte."""
    text = np.empty(3 * len(data) + 3, dtype=np.uint8)
    text[:2], text[-1] = list(b'c"'), ord('"')
    np.take(_ESCAPES, data, axis=0, out=text[2:-1].reshape(-1, 3))
    return ir.FormattedConstant(ir.ArrayType(I8, len(data)), str(text.data, "ascii"))


def call_math(b: ir.IRBuilder, module: ir.Module, name: str, args: Sequence[ir.Value]) -> ir.Value:
    """Call a libm function or LLVM intrinsic whose arguments and result share the arguments'
    type, declaring it on first use."""
    kind = args[0].type
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(kind, [kind] * len(args)), name
    )
    return b.call(fn, list(args))


@contextlib.contextmanager
def counted(fn: ir.Function, b: ir.IRBuilder, count: int | ir.Value) -> Iterator[ir.Value]:
    """for (i = 0; i < count; i++) { body }, emitted with builder b into fn: the one loop every
    kernel and entry point uses."""
    limit = i64(count) if isinstance(count, int) else count
    head, body, done = (fn.append_basic_block(s) for s in ("loop", "body", "done"))
    before = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(i64(0), before)
    b.cbranch(b.icmp_signed("<", i, limit), body, done)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, i64(1)), b.block)
    b.branch(head)
    b.position_at_end(done)


@dataclass(frozen=True)
class Buffer:
    """Where a node's values live: `ptr` to elements of `storage` type, row-major per sample;
    sample s starts `sample_stride` elements after sample s - 1 (0: shared by all samples)."""

    ptr: ir.Value
    storage: ir.Type
    lane: ir.Type
    shape: tuple[int, ...]
    sample_stride: int

    def view(self, shape: tuple[int, ...]) -> Buffer:
        """The same elements under another shape (a reshape moves nothing)."""
        return Buffer(self.ptr, self.storage, self.lane, shape, self.sample_stride)


# ops whose result is a view of their first input: no bytes of their own
VIEWS = frozenset({Op.RESHAPE})


def owns_bytes(node: Node, lane: ir.Type = F64, x_type: ir.Type = F64) -> bool:
    """Whether a node's values need workspace bytes: constants are globals, views alias their
    source, inputs computing in the row type of x are read in place."""
    if node.op is Op.CONST or node.op in VIEWS:
        return False
    return not (node.op is Op.INPUT and lane == x_type)


class WorkspacePlan:
    """Byte offsets of every buffer in the workspace: buffers whose lifetimes do not overlap share
    bytes (greedy by size, as TFLite's arena planner does). `shares` maps a node to the node whose
    bytes it writes in place (a GEMM's epilogue: its bias add and activation); `inside` maps a
    node to the node whose emitter computes it (a softmax's max and sum): it owns no bytes, and
    what it reads is read when that node runs."""

    def __init__(
        self,
        graph: Graph,
        tile: int,
        lane: Callable[[str], ir.Type] = lane_of,
        x_type: ir.Type = F64,
        shares: Mapping[str, str] | None = None,
        inside: Mapping[str, str] | None = None,
    ) -> None:
        shares, inside = shares or {}, inside or {}
        order = {node.name: i for i, node in enumerate(graph.nodes())}
        owner = {}  # node → the node whose bytes hold its values
        for node in graph.nodes():
            source = shares.get(node.name, node.inputs[0] if node.op in VIEWS else None)
            owner[node.name] = owner[source] if source is not None else node.name
        end = {name: i for name, i in order.items()}
        for node in graph.nodes():
            when = order[inside.get(node.name, node.name)]
            for source in node.inputs:
                root = owner[source]
                end[root] = max(end[root], when)
        for name in graph.outputs:
            end[owner[name]] = len(order)
        sized = [
            (
                _aligned(tile * node.numel * lane_bytes(lane(node.dtype))),
                order[node.name],
                end[node.name],
                node.name,
            )
            for node in graph.nodes()
            if owner[node.name] == node.name
            and node.name not in inside
            and owns_bytes(node, lane(node.dtype), x_type)
        ]
        self.offsets: dict[str, int] = {}
        placed: list[tuple[int, int, int, int]] = []  # (offset, size, start, end)
        for size, start, stop, name in sorted(sized, key=lambda s: (-s[0], s[1])):
            offset = 0
            for other_offset, other_size, other_start, other_stop in sorted(placed):
                in_time = start <= other_stop and other_start <= stop
                in_space = offset + size > other_offset and other_offset + other_size > offset
                if in_time and in_space:
                    offset = other_offset + other_size
            placed.append((offset, size, start, stop))
            self.offsets[name] = offset
        self.bytes = max((o + s for o, s, _, _ in placed), default=0)
        self.unshared_bytes = sum(size for size, _, _, _ in sized)


def _aligned(size: int) -> int:
    return max(ALIGNMENT, -(-size // ALIGNMENT) * ALIGNMENT)


class Kernel:
    """Builds `void name(int64_t count, const X *x, Y *y, char *workspace)` for up to `tile`
    samples, values in the lanes of `precision`; X and Y the lanes of the inputs and the output
    unless `rows` names them."""

    def __init__(
        self,
        module: ir.Module,
        graph: Graph,
        tile: int,
        input_numel: int,
        name: str,
        precision: str = "double",
        shares: Mapping[str, str] | None = None,
        inside: Mapping[str, str] | None = None,
        rows: tuple[ir.Type, ir.Type] | None = None,
    ) -> None:
        self.module = module
        self.graph = graph
        self.tile = tile
        self.input_numel = input_numel
        self.precision = precision
        inputs = [graph[name].dtype for name in graph.inputs]
        output = graph[graph.outputs[0]].dtype
        self.x_type, self.y_type = rows or row_types(inputs, output, precision)
        self.plan = WorkspacePlan(graph, tile, self.lane, self.x_type, shares, inside)
        fn_type = ir.FunctionType(ir.VoidType(), [I64, PTR, PTR, PTR])
        self.fn = ir.Function(module, fn_type, name)
        self.fn.linkage = "internal"
        for arg in self.fn.args[1:]:
            arg.add_attribute("noalias")
        count, self.x, self.y, self.workspace = self.fn.args
        self.count = count if tile > 1 else i64(1)  # samples this call computes (≤ tile)
        self.allocas = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.b = ir.IRBuilder(self.fn.append_basic_block("start"))
        self.buffers: dict[str, Buffer] = {}
        self.sample: ir.Value | None = None  # the sample index inside `samples()`
        self.x_offset = 0  # where the next input's elements start in a row of x

    def finish(self) -> ir.Function:
        """Close the function once every node has a buffer and the output is stored."""
        self.b.ret_void()
        self.allocas.branch(self.fn.blocks[1])
        return self.fn

    # --- buffers ------------------------------------------------------------------------
    def lane(self, dtype: str) -> ir.Type:
        """The lane values of `dtype` compute and are stored in, in this kernel's precision."""
        return lane_of(dtype, self.precision)

    def new_buffer(self, node: Node) -> Buffer:
        """The workspace buffer the plan gave this node, in its lane."""
        if node.name not in self.plan.offsets:
            raise BackendError(f"internal: %{node.name} has no workspace bytes in the plan")
        lane = self.lane(node.dtype)
        ptr = self.allocas.gep(self.workspace, [i64(self.plan.offsets[node.name])], source_etype=I8)
        return Buffer(ptr, lane, lane, node.shape, node.numel)

    def element_pointer(
        self, buffer: Buffer, offset: ir.Value, sample: ir.Value | None = None
    ) -> ir.Value:
        """Address of element `offset` of one sample (the current one by default)."""
        if buffer.sample_stride:
            sample = sample if sample is not None else self.sample
            if sample is None:
                raise BackendError("internal: a per-sample buffer read outside samples()")
            offset = self.b.add(self.b.mul(sample, i64(buffer.sample_stride)), offset)
        return self.b.gep(buffer.ptr, [offset], source_etype=buffer.storage)

    def load(
        self, buffer: Buffer, offset: ir.Value, lane: ir.Type, sample: ir.Value | None = None
    ) -> ir.Value:
        pointer = self.element_pointer(buffer, offset, sample)
        value = self.b.load(pointer, typ=buffer.storage)
        if buffer.storage != buffer.lane:
            value = convert(self.b, value, buffer.lane)
        return convert(self.b, value, lane)

    def store(
        self, buffer: Buffer, offset: ir.Value, value: ir.Value, sample: ir.Value | None = None
    ) -> None:
        pointer = self.element_pointer(buffer, offset, sample)
        self.b.store(convert(self.b, value, buffer.storage), pointer)

    def offset(self, index: Sequence[ir.Value], element_strides: Sequence[int]) -> ir.Value:
        """sum(index[d] * strides[d]); zero strides (broadcast dimensions) cost nothing."""
        total: ir.Value = i64(0)
        for value, stride in zip(index, element_strides):
            if stride:
                total = self.b.add(total, self.b.mul(value, i64(stride)))
        return total

    def broadcast_offset(self, index: Sequence[ir.Value], shape: Sequence[int]) -> ir.Value:
        """Offset into a buffer of `shape` broadcast (numpy rules) to the output index."""
        return self.offset(index, broadcast_strides(shape, len(index)))

    # --- loops --------------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, count: int | ir.Value) -> Iterator[ir.Value]:
        """for (i = 0; i < count; i++) { body }"""
        with counted(self.fn, self.b, count) as i:
            yield i

    @contextlib.contextmanager
    def nest(self, shape: Sequence[int]) -> Iterator[list[ir.Value]]:
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(self.loop(size)) for size in shape]

    @contextlib.contextmanager
    def samples(self) -> Iterator[ir.Value]:
        """for (s = 0; s < count; s++): per-sample loads and stores in the body address sample s."""
        if self.sample is not None:
            raise BackendError("internal: samples() does not nest")
        with self.loop(self.count) as s:
            self.sample = s
            try:
                yield s
            finally:
                self.sample = None

    def scratch(self, lane: ir.Type) -> ir.Value:
        """A stack slot for an accumulator (one value, reused by every iteration)."""
        return self.allocas.alloca(lane)


# how one op's values are computed for the whole tile
Emitter = Callable[[Kernel, Node], Buffer]
