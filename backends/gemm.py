"""Register-tiled GEMM against constant weights: C[m, n] = epilogue(A[m, k] · B[k, n] + bias).

The shape follows ONNX Runtime's MLAS and BLIS: B is packed at compile time into panels of NR
columns (two vector registers wide), each panel k-major and zero-padded past n, stored as one
constant global; a micro-kernel keeps an MR × NR block of C in registers, and per k loads the
panel's vectors once and broadcasts one element of each of the MR rows of A into a multiply-add.
MR and the vector width come from the target's vector unit (isa.py): 12 rows on 32 registers
(AVX-512), 6 on 16 (AVX2, SSE2). Multiply-adds are `llvm.fmuladd`, fused where the target has FMA.

Edges never fall back to scalar code: the last panel's missing columns are zeros in the packed
weights and masked out of the stores; the m % MR rows left over run a kernel made for exactly that
many rows, which covers several panels at once (up to the accumulators a full block uses), so one
sample (m = 1) still keeps enough independent multiply-adds in flight.

Full blocks loop over panels outside and rows inside (BLIS's order): a panel is reused for every
block of rows while it is in cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from .isa import Isa
from .kernel import call_math, constant_bytes, splat
from .loops import counted_loop
from .masked import store_first

__all__ = ["Blocking", "Epilogue", "Gemm", "blocking_for", "emit_gemm", "pack_panels"]

I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
_ELEMENTS = {"float32": (ir.FloatType(), np.float32), "float64": (ir.DoubleType(), np.float64)}
PANEL_VECTORS = 2  # vector registers per panel row: NR = 2 × lanes (MLAS, BLIS)
MAX_PANELS = 4  # panels a short block covers at once: few enough streams for the prefetchers

# builder, accumulator vector → the vector to store (bias is already added)
Epilogue = Callable[[ir.IRBuilder, ir.Value], ir.Value]


@dataclass(frozen=True)
class Gemm:
    """One product against constant weights: A is m × k, C is m × n; `weights` is (k, n) and
    `bias` (n,) or None. The rows come in samples of `rows` rows: within a sample, row strides are
    `lda` and `ldc` elements; from one sample to the next, `a_sample` and `c_sample` (0: rows
    times the row stride, every row evenly spaced).

    A convolution is a GEMM over an implicit im2col matrix (no copy): `a_grid` lays a sample's
    rows out on a grid of output positions, ((count, stride), ...) outermost first (the last
    count varies fastest; it replaces `lda`), and `k_offsets` gives where A[row, k] lies from the
    row's first element (channel and window tap), instead of k itself. `c_column` is the stride
    between C's columns (1: rows are contiguous; a convolution's channels-first output has one
    column per channel, `rows` elements apart), stored lane by lane when not 1."""

    weights: np.ndarray
    bias: np.ndarray | None
    element: str  # "float32" or "float64": A, B, C and the arithmetic
    lda: int
    ldc: int
    rows: int = 1
    a_sample: int = 0
    c_sample: int = 0
    a_grid: tuple[tuple[int, int], ...] = ()
    k_offsets: tuple[int, ...] | None = None
    c_column: int = 1

    @property
    def k(self) -> int:
        return self.weights.shape[0]

    @property
    def n(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class Blocking:
    """The register tile: `rows` (MR) rows of C by `vectors` registers of `lanes` elements."""

    lanes: int
    vectors: int
    rows: int
    registers: int

    @property
    def width(self) -> int:
        """NR, the columns of one packed panel."""
        return self.lanes * self.vectors

    def panels_for(self, rows: int) -> int:
        """Panels a block of `rows` rows covers at once: as many as keep its accumulators, the
        panels' vectors and one broadcast in registers (more would spill inside the k loop)."""
        fit = (self.registers - 1) // (self.vectors * (rows + 1))
        return max(1, min(MAX_PANELS, fit))


def blocking_for(isa: Isa, element: str) -> Blocking:
    """MR × NR for this vector unit: MR rows × 2 registers of accumulators, plus the panel's two
    registers and one broadcast, fill the register file (MLAS: 12 × 32 floats on AVX-512)."""
    element_bytes = np.dtype(_ELEMENTS[element][1]).itemsize
    rows = 12 if isa.registers >= 32 else 6
    return Blocking(isa.lanes(element_bytes), PANEL_VECTORS, rows, isa.registers)


def pack_panels(weights: np.ndarray, width: int, dtype: type) -> np.ndarray:
    """(k, n) → (panels, k, width): panel p holds columns p·width ..., zero past n."""
    k, n = weights.shape
    panels = max(1, math.ceil(n / width))
    packed = np.zeros((panels, k, width), dtype=dtype)
    for p in range(panels):
        columns = weights[:, p * width : (p + 1) * width]
        packed[p, :, : columns.shape[1]] = columns
    return packed


def emit_gemm(
    module: ir.Module,
    name: str,
    gemm: Gemm,
    isa: Isa,
    epilogue: Epilogue | None = None,
    sizes: Collection[int] | None = None,
    data: str | None = None,
) -> ir.Function:
    """`void name(i64 m, ptr a, ptr c)` (internal): C = epilogue(A · B + bias) for m rows.
    `sizes`: the values of m callers pass (None: any), so only the row-remainder kernels they
    reach are emitted; `data`: the name of the packed-weight globals, shared by every GEMM of the
    module that names the same (default: `name`)."""
    return _GemmEmitter(module, name, gemm, isa, epilogue, data or name).emit(sizes)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


class _GemmEmitter:
    """Emits the driver and, on demand, one micro-kernel per (rows, panels, last panel's width)."""

    def __init__(
        self,
        module: ir.Module,
        name: str,
        gemm: Gemm,
        isa: Isa,
        epilogue: Epilogue | None,
        data: str,
    ) -> None:
        self.module, self.name, self.gemm, self.isa = module, name, gemm, isa
        self.epilogue = epilogue
        self.element, dtype = _ELEMENTS[gemm.element]
        self.element_bytes = np.dtype(dtype).itemsize
        self.tile = blocking_for(isa, gemm.element)
        self.vector = ir.VectorType(self.element, self.tile.lanes)
        width = self.tile.width
        self.panel_count = max(1, math.ceil(gemm.n / width))
        self.last_width = gemm.n - (self.panel_count - 1) * width
        packed = pack_panels(gemm.weights, width, dtype)
        self.panels = constant_bytes(module, f"{data}.panels", packed)
        bias = np.zeros(self.panel_count * width, dtype=dtype)
        if gemm.bias is not None:
            bias[: gemm.n] = gemm.bias
        self.bias = constant_bytes(module, f"{data}.bias", bias) if gemm.bias is not None else None
        self.kernels: dict[tuple[int, int, int], ir.Function] = {}
        self.k_table: ir.GlobalVariable | None = None

    # --- the driver -------------------------------------------------------------------------
    def emit(self, sizes: Collection[int] | None) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I64, PTR, PTR]), self.name)
        fn.linkage = "internal"
        m, a, c = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        if self.gemm.n == 0:
            b.ret_void()
            return fn
        rows = self.tile.rows
        blocks = b.udiv(m, _i64(rows))
        if sizes is None or max(sizes) >= rows:
            self._cover_columns(b, rows, a, c, _i64(0), blocks)
        tail = b.mul(blocks, _i64(rows))
        rest = b.urem(m, _i64(rows))
        # the rows left, in blocks of the powers of two that add up to them (8 + 2 + 1 for 11):
        # a micro-kernel per power instead of one per count, a few times less code to optimise
        reached = range(1, rows) if sizes is None else {s % rows for s in sizes} - {0}
        powers = {
            1 << bit for left in reached for bit in range(left.bit_length()) if left >> bit & 1
        }
        for power in sorted(powers, reverse=True):
            with b.if_then(b.icmp_unsigned("!=", b.and_(rest, _i64(power)), _i64(0))):
                before = b.and_(rest, _i64(-2 * power))  # the rows of the larger powers
                self._cover_columns(b, power, a, c, b.add(tail, before), _i64(1))
        b.ret_void()
        return fn

    def _cover_columns(
        self,
        b: ir.IRBuilder,
        rows: int,
        a: ir.Value,
        c: ir.Value,
        first: ir.Value,
        blocks: ir.Value,
    ) -> None:
        """Every panel for `blocks` consecutive blocks of `rows` rows from row `first`: groups of
        whole panels in a loop (panels outside, blocks inside), then the group holding the narrow
        last panel."""
        group = self.tile.panels_for(rows)
        whole = self.panel_count if self.last_width == self.tile.width else self.panel_count - 1
        loops = whole // group
        if loops:
            kernel = self._kernel(rows, group, self.tile.width)
            with counted_loop(b, _i64(loops)) as g:
                self._call_blocks(b, kernel, rows, a, c, first, b.mul(g, _i64(group)), blocks)
        left = self.panel_count - loops * group
        if left:
            kernel = self._kernel(rows, left, self.last_width)
            self._call_blocks(b, kernel, rows, a, c, first, _i64(loops * group), blocks)

    def _call_blocks(
        self,
        b: ir.IRBuilder,
        kernel: ir.Function,
        rows: int,
        a: ir.Value,
        c: ir.Value,
        first: ir.Value,
        panel: ir.Value,
        blocks: ir.Value,
    ) -> None:
        width, k = self.tile.width, self.gemm.k
        weights = b.gep(self.panels, [b.mul(panel, _i64(k * width))], source_etype=self.element)
        bias = (
            b.gep(self.bias, [b.mul(panel, _i64(width))], source_etype=self.element)
            if self.bias is not None
            else ir.Constant(PTR, None)
        )
        first_column = b.mul(panel, _i64(width * self.gemm.c_column))
        columns = b.gep(c, [first_column], source_etype=self.element)
        with counted_loop(b, blocks) as block:
            row = b.add(first, b.mul(block, _i64(rows)))
            b.call(kernel, [a, weights, bias, columns, row])

    def _row(
        self,
        b: ir.IRBuilder,
        base: ir.Value,
        row: ir.Value,
        stride: int,
        sample: int,
        grid: tuple[tuple[int, int], ...] = (),
    ) -> ir.Value:
        """Address of row `row` (of all samples' rows) of a matrix with row stride `stride` (or
        rows on `grid`) and `sample` elements from one sample's rows to the next's."""
        per_sample = self.gemm.rows
        grid = grid or ((per_sample, stride),)
        sample = sample or per_sample * stride  # 0: samples' rows follow one another
        if sample == per_sample * stride and len(grid) == 1:
            offset = b.mul(row, _i64(stride))
        else:
            within = b.urem(row, _i64(per_sample))
            offset = b.mul(b.udiv(row, _i64(per_sample)), _i64(sample))
            for count, step in reversed(grid):  # fastest-varying axis first
                offset = b.add(offset, b.mul(b.urem(within, _i64(count)), _i64(step)))
                within = b.udiv(within, _i64(count))
        return b.gep(base, [offset], source_etype=self.element)

    # --- micro-kernels ----------------------------------------------------------------------
    def _kernel(self, rows: int, panels: int, last_width: int) -> ir.Function:
        key = (rows, panels, last_width)
        if key not in self.kernels:
            self.kernels[key] = self._emit_kernel(rows, panels, last_width)
        return self.kernels[key]

    def _vectors(self, panels: int, last_width: int) -> list[tuple[int, int]]:
        """(column offset, lanes in use) of every accumulator vector of one row; vectors wholly
        past n are left out."""
        lanes, width = self.tile.lanes, self.tile.width
        found = []
        for panel in range(panels):
            used = last_width if panel == panels - 1 else width
            for v in range(self.tile.vectors):
                count = min(lanes, used - v * lanes)
                if count > 0:
                    found.append((panel * width + v * lanes, count))
        return found

    def _emit_kernel(self, rows: int, panels: int, last_width: int) -> ir.Function:
        """`void (ptr a, ptr panels, ptr bias, ptr c, i64 first)`: rows first.. of C, columns
        (panels · NR) from c on."""
        name = f"{self.name}.r{rows}p{panels}w{last_width}"
        signature = ir.FunctionType(ir.VoidType(), [PTR] * 4 + [I64])
        fn = ir.Function(self.module, signature, name)
        fn.linkage = "internal"
        fn.attributes.add("noinline")  # one copy, called per block: the driver stays small
        for arg in fn.args[:4]:
            arg.add_attribute("noalias")
        a, weights, bias, c, first = fn.args
        vectors = self._vectors(panels, last_width)
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        indices = [b.add(first, _i64(row)) for row in range(rows)]
        gemm = self.gemm
        rows_a = [self._row(b, a, i, gemm.lda, gemm.a_sample, gemm.a_grid) for i in indices]
        rows_c = [self._row(b, c, i, self.gemm.ldc, self.gemm.c_sample) for i in indices]
        start = [self._start(b, bias, offset) for offset, _ in vectors]
        accumulators = [list(start) for _ in range(rows)]
        if self.gemm.k:
            accumulators = self._k_loop(b, rows_a, weights, vectors, accumulators)
        for row_c, values in zip(rows_c, accumulators):
            for (offset, count), value in zip(vectors, values):
                if self.epilogue is not None:
                    value = self.epilogue(b, value)
                column = _i64(offset * self.gemm.c_column)
                self._store(b, value, b.gep(row_c, [column], source_etype=self.element), count)
        b.ret_void()
        return fn

    def _start(self, b: ir.IRBuilder, bias: ir.Value, offset: int) -> ir.Value:
        if self.bias is None:
            return ir.Constant(self.vector, None)  # zeroinitializer
        ptr = b.gep(bias, [_i64(offset)], source_etype=self.element)
        return b.load(ptr, typ=self.vector, align=self.isa.vector_bytes)

    def _k_loop(
        self,
        b: ir.IRBuilder,
        rows_a: list[ir.Value],
        weights: ir.Value,
        vectors: list[tuple[int, int]],
        start: list[list[ir.Value]],
    ) -> list[list[ir.Value]]:
        """for kk < k: acc[i][v] += broadcast(A[i, kk]) * panel[kk, v], accumulators in phis."""
        fn, entry = b.function, b.block
        body, done = fn.append_basic_block("k"), fn.append_basic_block("k.done")
        b.branch(body)
        b.position_at_end(body)
        kk = b.phi(I64)
        kk.add_incoming(_i64(0), entry)
        phis = [[b.phi(self.vector) for _ in row] for row in start]
        for row, values in zip(phis, start):
            for phi, value in zip(row, values):
                phi.add_incoming(value, entry)
        width, k = self.tile.width, self.gemm.k
        loaded = []
        for offset, _ in vectors:
            panel, column = divmod(offset, width)
            index = b.add(_i64(panel * k * width + column), b.mul(kk, _i64(width)))
            ptr = b.gep(weights, [index], source_etype=self.element)
            loaded.append(b.load(ptr, typ=self.vector, align=self.isa.vector_bytes))
        fmuladd = f"llvm.fmuladd.v{self.tile.lanes}{'f32' if self.element_bytes == 4 else 'f64'}"
        updated = []
        for row_a, accumulators in zip(rows_a, phis):
            element = b.gep(row_a, [self._k_offset(b, kk)], source_etype=self.element)
            value = b.load(element, typ=self.element, align=self.element_bytes)
            broadcast = splat(b, self.vector, value)
            updated.append(
                [
                    call_math(b, self.module, fmuladd, [broadcast, w, acc])
                    for w, acc in zip(loaded, accumulators)
                ]
            )
        following = b.add(kk, _i64(1))
        for row, values in zip(phis, updated):
            for phi, value in zip(row, values):
                phi.add_incoming(value, body)
        kk.add_incoming(following, body)
        b.cbranch(b.icmp_unsigned("<", following, _i64(k)), body, done)
        b.position_at_end(done)
        return updated

    def _k_offset(self, b: ir.IRBuilder, kk: ir.Value) -> ir.Value:
        """Where A[row, kk] lies from the row's start: kk, or its entry in the offset table."""
        if self.gemm.k_offsets is None:
            return kk
        if self.k_table is None:
            offsets = np.asarray(self.gemm.k_offsets, dtype=np.int32)
            self.k_table = constant_bytes(self.module, f"{self.name}.k_offsets", offsets)
        entry = b.gep(self.k_table, [kk], source_etype=I32)
        return b.sext(b.load(entry, typ=I32, align=4), I64)

    def _store(self, b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, count: int) -> None:
        """All lanes, or the first `count` through a masked store (no scalar epilogue); lane by
        lane, `c_column` elements apart, when C's columns are not contiguous."""
        if self.gemm.c_column != 1:
            for lane in range(count):
                target = b.gep(ptr, [_i64(lane * self.gemm.c_column)], source_etype=self.element)
                b.store(b.extract_element(value, _i64(lane)), target, align=self.element_bytes)
            return
        store_first(b, value, ptr, count)
