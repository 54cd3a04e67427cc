"""The core op set: every Graph node has one of these ops, and each op's semantics live in one table row.

The row's `reference` is a torch function over the node's input tensors and attributes. It is
the op's definition: the interpreter evaluates graphs with it and `Graph.add` infers shapes and
dtypes by running it on meta tensors, so semantics, shape rules and dtype promotion cannot drift.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .closed_form import evaluate_expr, evaluate_table

__all__ = [
    "BITWISE_FUNCTIONS",
    "DTYPES",
    "OP_TABLE",
    "Op",
    "OpInfo",
    "dtype_name",
    "is_integer_dtype",
]


class Op(enum.Enum):
    # sources
    INPUT = "input"
    CONST = "const"
    # elementwise, one operand
    NEG = "neg"
    ABS = "abs"
    EXP = "exp"
    LOG = "log"
    LOG1P = "log1p"
    SIN = "sin"
    COS = "cos"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    RELU = "relu"
    ERF = "erf"
    NOT = "not"
    CAST = "cast"
    # elementwise, two or three operands (numpy broadcasting)
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    AND = "and"
    OR = "or"
    WHERE = "where"
    # integer-style arithmetic on any dtype: attrs["rounding"] is "floor" (Python's // and %) or
    # "trunc" (C's / and fmod)
    DIV_ROUNDED = "div_rounded"
    MOD = "mod"
    # bit operations on integers: attrs["fn"] in BITWISE_FUNCTIONS
    BITWISE = "bitwise"
    # reductions over attrs["dims"], keeping them when attrs["keepdim"]
    SUM = "sum"
    AMAX = "amax"
    AMIN = "amin"
    ARGMAX = "argmax"
    # linear algebra
    MATMUL = "matmul"
    # windows over the trailing spatial dims of (batch, channel, *spatial), any spatial rank
    CONV = "conv"  # aten.convolution: attrs stride, padding, dilation, transposed, output_padding,
    #                groups; inputs x, weight[, bias]
    POOL = "pool"  # attrs kind ("max" | "avg"), kernel, stride, padding, dilation, ceil_mode,
    #                count_include_pad, divisor_override
    # data movement
    RESHAPE = "reshape"
    PERMUTE = "permute"
    EXPAND = "expand"
    SLICE = "slice"
    CAT = "cat"
    TAKE = "take"
    # closed forms found by the symbolic passes (see closed_form.py)
    EXPR = "expr"
    TABLE = "table"
    AUTOMATON = "automaton"  # attrs["automaton"] (automaton.Automaton) run over each token string
    # loops: the state after attrs["cell"] (reroll.Cell) read each position (dim 1) of its input
    SCAN = "scan"


Reference = Callable[[Sequence[torch.Tensor], dict[str, Any]], torch.Tensor]


@dataclass(frozen=True)
class OpInfo:
    """What the rest of nnc needs to know about an op: arity, category and reference semantics."""

    arity: int | None  # None: any number of inputs (at least one)
    category: str  # source | elementwise | reduction | linalg | window | movement | closed_form
    #                | loop
    reference: Reference | None  # None for sources
    # Closed forms cannot run on meta tensors: their shape and dtype are recorded in attrs.
    declared_meta: bool = False


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> OpInfo:
    return OpInfo(1, "elementwise", lambda t, a: fn(t[0]))


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> OpInfo:
    return OpInfo(2, "elementwise", lambda t, a: fn(t[0], t[1]))


def _reduction(fn: Callable[..., torch.Tensor]) -> OpInfo:
    return OpInfo(1, "reduction", lambda t, a: fn(t[0], list(a["dims"]), keepdim=a["keepdim"]))


def _take(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    """x indexed along attrs["dim"] by an integer tensor: out shape x[:dim] + idx + x[dim+1:]."""
    x, idx = t
    dim = a["dim"]
    picked = torch.index_select(x, dim, idx.reshape(-1))
    return picked.reshape(*x.shape[:dim], *idx.shape, *x.shape[dim + 1 :])


def _conv(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    x, weight, *bias = t
    return torch.ops.aten.convolution(
        x,
        weight,
        bias[0] if bias else None,
        list(a["stride"]),
        list(a["padding"]),
        list(a["dilation"]),
        a["transposed"],
        list(a["output_padding"]),
        a["groups"],
    )


def _pool(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    """torch's max_poolNd / avg_poolNd; a 1-d average runs as 2-d (only that has divisor_override)."""
    x, rank = t[0], len(a["kernel"])
    window = [list(a[k]) for k in ("kernel", "stride", "padding")]
    if a["kind"] == "max":
        return _MAX_POOL[rank](x, *window, list(a["dilation"]), a["ceil_mode"])
    if rank == 1:
        window = [[1, *w] for w in window[:2]] + [[0, *window[2]]]
        x = x.unsqueeze(-2)
    out = _AVG_POOL[max(rank, 2)](
        x, *window, a["ceil_mode"], a["count_include_pad"], a["divisor_override"]
    )
    return out.squeeze(-2) if rank == 1 else out


_F = torch.nn.functional
_MAX_POOL = {1: _F.max_pool1d, 2: _F.max_pool2d, 3: _F.max_pool3d}
_AVG_POOL = {2: _F.avg_pool2d, 3: _F.avg_pool3d}

BITWISE_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "and": torch.bitwise_and,
    "or": torch.bitwise_or,
    "xor": torch.bitwise_xor,
    "left_shift": torch.bitwise_left_shift,
    "right_shift": torch.bitwise_right_shift,
}
_MOD = {"floor": torch.remainder, "trunc": torch.fmod}


def _slice(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    index = [slice(None)] * t[0].dim()
    index[a["dim"]] = slice(a["start"], a["end"], a["step"])
    return t[0][tuple(index)]


OP_TABLE: dict[Op, OpInfo] = {
    Op.INPUT: OpInfo(0, "source", None),
    Op.CONST: OpInfo(0, "source", None),
    Op.NEG: _unary(torch.neg),
    Op.ABS: _unary(torch.abs),
    Op.EXP: _unary(torch.exp),
    Op.LOG: _unary(torch.log),
    Op.LOG1P: _unary(torch.log1p),
    Op.SIN: _unary(torch.sin),
    Op.COS: _unary(torch.cos),
    Op.SQRT: _unary(torch.sqrt),
    Op.RSQRT: _unary(torch.rsqrt),
    Op.TANH: _unary(torch.tanh),
    Op.SIGMOID: _unary(torch.sigmoid),
    Op.RELU: _unary(torch.relu),
    Op.ERF: _unary(torch.erf),
    Op.NOT: _unary(torch.logical_not),
    Op.CAST: OpInfo(1, "elementwise", lambda t, a: t[0].to(DTYPES[a["dtype"]])),
    Op.ADD: _binary(torch.add),
    Op.SUB: _binary(torch.sub),
    Op.MUL: _binary(torch.mul),
    Op.DIV: _binary(torch.div),
    Op.POW: _binary(torch.pow),
    Op.MAXIMUM: _binary(torch.maximum),
    Op.MINIMUM: _binary(torch.minimum),
    Op.EQ: _binary(torch.eq),
    Op.NE: _binary(torch.ne),
    Op.LT: _binary(torch.lt),
    Op.LE: _binary(torch.le),
    Op.GT: _binary(torch.gt),
    Op.GE: _binary(torch.ge),
    Op.AND: _binary(torch.logical_and),
    Op.OR: _binary(torch.logical_or),
    Op.WHERE: OpInfo(3, "elementwise", lambda t, a: torch.where(t[0], t[1], t[2])),
    Op.DIV_ROUNDED: OpInfo(
        2, "elementwise", lambda t, a: torch.div(t[0], t[1], rounding_mode=a["rounding"])
    ),
    Op.MOD: OpInfo(2, "elementwise", lambda t, a: _MOD[a["rounding"]](t[0], t[1])),
    Op.BITWISE: OpInfo(2, "elementwise", lambda t, a: BITWISE_FUNCTIONS[a["fn"]](t[0], t[1])),
    Op.SUM: _reduction(torch.sum),
    Op.AMAX: _reduction(torch.amax),
    Op.AMIN: _reduction(torch.amin),
    Op.ARGMAX: OpInfo(
        1, "reduction", lambda t, a: torch.argmax(t[0], a["dims"][0], keepdim=a["keepdim"])
    ),
    Op.MATMUL: OpInfo(2, "linalg", lambda t, a: torch.matmul(t[0], t[1])),
    Op.CONV: OpInfo(None, "linalg", _conv),
    Op.POOL: OpInfo(1, "window", _pool),
    Op.RESHAPE: OpInfo(1, "movement", lambda t, a: t[0].reshape(a["shape"])),
    Op.PERMUTE: OpInfo(1, "movement", lambda t, a: t[0].permute(a["dims"])),
    Op.EXPAND: OpInfo(1, "movement", lambda t, a: t[0].expand(a["shape"])),
    Op.SLICE: OpInfo(1, "movement", _slice),
    Op.CAT: OpInfo(None, "movement", lambda t, a: torch.cat(list(t), a["dim"])),
    Op.TAKE: OpInfo(2, "movement", _take),
    Op.EXPR: OpInfo(None, "closed_form", lambda t, a: _expr(t, a), declared_meta=True),
    Op.TABLE: OpInfo(None, "closed_form", lambda t, a: _table(t, a), declared_meta=True),
    Op.AUTOMATON: OpInfo(1, "closed_form", lambda t, a: _automaton(t, a), declared_meta=True),
    Op.SCAN: OpInfo(1, "loop", lambda t, a: _scan(t, a), declared_meta=True),
}


def _expr(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    return evaluate_expr(
        a["expr"], a["bindings"], t, a["shape"], DTYPES[a["dtype"]], a.get("rowwise", False)
    )


def _table(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    return evaluate_table(a["table"], a["axes"], t, a["shape"])


def _automaton(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    strings = t[0].reshape(len(t[0]), -1).numpy()
    decisions = torch.from_numpy(a["automaton"].run(strings))
    return decisions.to(DTYPES[a["dtype"]]).reshape(len(strings), *a["shape"][1:])


def _scan(t: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    """Per sample: from the cell's initial state, the cell applied to each position in turn."""
    cell = a["cell"]
    states = []
    for string in t[0]:
        state = cell.initial
        for token in string:
            state = cell(state, token.reshape(cell.token_shape))
        states.append(state)
    return torch.cat(states).to(DTYPES[a["dtype"]])


# Dtype names used in specs, graphs, metadata and the C ABI.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in DTYPES.items()}


def dtype_name(dtype: torch.dtype) -> str:
    """The nnc name of a torch dtype ("float32", "int64", ...)."""
    return _NAMES[dtype]


def is_integer_dtype(name: str) -> bool:
    """Whether values of this dtype are integers (bool included): they compute in int64 lanes."""
    return name.startswith(("int", "uint")) or name == "bool"
