"""Front end: trace a torch module with torch.export and translate its core-ATen graph into a Graph.

Each supported ATen op has one row in LOWERINGS: a function that builds core-op nodes for it.
Subexpressions over constants only (weights, masks, `arange`) are evaluated by torch itself while
tracing, so they arrive as constants. Anything else is an UnsupportedOpError naming the op, the
node and its source line.
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx

from .errors import InputError, InternalError, UnsupportedOpError
from .graph import Graph
from .ops import Op, dtype_name
from .spec import InputSpec
from .torch_model import EXPORT_LOCK, eval_mode, example_inputs

__all__ = ["LOWERINGS", "to_graph", "trace"]

aten = torch.ops.aten


def trace(model: torch.nn.Module, specs: Sequence[InputSpec]) -> torch.export.ExportedProgram:
    """torch.export the model (in eval mode) at batch size 1 and decompose it to core ATen."""
    with EXPORT_LOCK, eval_mode(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if isinstance(model, torch.jit.ScriptModule):
                # NOTE: torch.export refuses ScriptModules; this converter is torch's own path.
                from torch._export.converter import TS2EPConverter

                program = TS2EPConverter(model, example_inputs(specs)).convert()
            else:
                program = torch.export.export(model, example_inputs(specs), strict=False)
            return program.run_decompositions()
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise InputError(
                f"torch.export could not trace the model with inputs "
                f"{[tuple(t.shape) for t in example_inputs(specs)]}: {type(error).__name__}: "
                f"{first_line}",
                hint="check that --input matches what forward() expects (nnc adds a leading "
                "batch dimension of 1) and that forward() has no data-dependent control flow",
            ) from error


def to_graph(program: torch.export.ExportedProgram, specs: Sequence[InputSpec]) -> Graph:
    """Translate an exported program into a Graph with one INPUT node per spec."""
    return _Translator(program, specs).run()


class _Translator:
    """Walks the exported fx graph once, in order, keeping fx node → Graph value (or constant)."""

    def __init__(self, program: torch.export.ExportedProgram, specs: Sequence[InputSpec]) -> None:
        self.program = program
        self.specs = list(specs)
        self.graph = Graph()
        self.values: dict[str, Any] = {}  # fx node name → Graph node name | torch.Tensor | tuple
        self.current: torch.fx.Node | None = None

    def run(self) -> Graph:
        fx_graph = self.program.graph_module.graph
        self._bind_placeholders(fx_graph)
        (output_node,) = [n for n in fx_graph.nodes if n.op == "output"]
        results = output_node.args[0]
        if len(results) != 1:
            raise InputError(
                f"the model returns {len(results)} values; nnc compiles models with one output "
                "tensor",
                hint="wrap the model in a module whose forward returns a single tensor",
            )
        needed = _needed(output_node)
        for node in fx_graph.nodes:
            if node.op == "call_function" and node.name in needed:
                self.current = node
                self.values[node.name] = self._lower(node)
        self.graph.outputs = [self._as_node(self.values[results[0].name])]
        return self.graph

    def _bind_placeholders(self, fx_graph: torch.fx.Graph) -> None:
        signature = self.program.graph_signature
        state = {**self.program.state_dict, **self.program.constants}
        lifted = {
            **signature.inputs_to_parameters,
            **signature.inputs_to_buffers,
            **signature.inputs_to_lifted_tensor_constants,
        }
        user_inputs = list(signature.user_inputs)
        for node in fx_graph.nodes:
            if node.op != "placeholder":
                continue
            if node.name in lifted:
                tensor = state[lifted[node.name]].detach()
                _check_finite(tensor, lifted[node.name])
                self.values[node.name] = tensor
            else:
                spec = self.specs[user_inputs.index(node.name)]
                val = node.meta["val"]
                self.values[node.name] = self.graph.add(
                    Op.INPUT,
                    name=spec.name,
                    shape=tuple(int(d) for d in val.shape),
                    dtype=dtype_name(val.dtype),
                    attrs={"spec": spec.name},
                )

    def _lower(self, node: torch.fx.Node) -> Any:
        if node.target is operator.getitem:
            return self.values[node.args[0].name][node.args[1]]
        args = torch.fx.node.map_arg(node.args, lambda n: self.values[n.name])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: self.values[n.name])
        if not any(isinstance(v, str) for v in _flatten((args, kwargs))):
            return node.target(*args, **kwargs)  # a constant subexpression: evaluate it now
        rule = LOWERINGS.get(node.target) or LOWERINGS.get(
            getattr(node.target, "overloadpacket", None)
        )
        if rule is None:
            raise UnsupportedOpError(
                f"unsupported op {_op_name(node)} at %{node.name} ({source_line(node)})",
                hint="nnc cannot compile it; replace it in the model with supported ops "
                "(see `nnc --list-ops`)",
            )
        result = rule(self, *args, **kwargs)
        if isinstance(result, str):
            result = self._match_meta(node, result)
        return result

    def _match_meta(self, node: torch.fx.Node, name: str) -> str:
        """Cast to the dtype torch.export recorded and insist on its shape."""
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            return name
        built = self.graph[name]
        if built.shape != tuple(val.shape):
            raise InternalError(
                f"lowering {_op_name(node)} at %{node.name} built shape {built.shape}, "
                f"torch says {tuple(val.shape)}",
                hint="this is a bug in nnc's front end; please report it",
            )
        if built.dtype != dtype_name(val.dtype):
            return self.add(Op.CAST, [name], dtype=dtype_name(val.dtype))
        return name

    # --- helpers used by the lowering rules ---------------------------------------------
    def add(self, op: Op, inputs: Sequence[Any], **attrs: Any) -> str:
        names = [self._as_node(i) for i in inputs]
        meta = (
            {"source": source_line(self.current), "module": module_path(self.current)}
            if self.current is not None
            else {}
        )
        return self.graph.add(
            op, names, attrs, name=self.current.name if self.current else None, meta=meta
        )

    def _as_node(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        tensor = value if isinstance(value, torch.Tensor) else _scalar(value)
        return self.graph.add(Op.CONST, value=tensor.detach().clone(), name="c")

    def shape(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            return self.graph[value].shape
        return tuple(torch.as_tensor(value).shape)

    def dtype(self, value: Any) -> str:
        if isinstance(value, str):
            return self.graph[value].dtype
        return dtype_name(torch.as_tensor(value).dtype)


def _scalar(value: Any) -> torch.Tensor:
    """A Python scalar as a 0-dim tensor that promotes the way a Python scalar does."""
    if isinstance(value, bool):
        return torch.tensor(value)
    if isinstance(value, int):
        return torch.tensor(value, dtype=torch.int64)
    return torch.tensor(float(value), dtype=torch.float64)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [value]


def _needed(output: torch.fx.Node) -> set[str]:
    """Names of the fx nodes the output depends on (assertion-only nodes are left out)."""
    seen: set[str] = set()
    stack = [output]
    while stack:
        node = stack.pop()
        for source in node.all_input_nodes:
            if source.name not in seen:
                seen.add(source.name)
                stack.append(source)
    return seen


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise InputError(
            f"weight {name!r} holds {bad} NaN/Inf value(s); the model cannot be compiled",
            hint="retrain or repair the checkpoint so every weight is finite",
        )


def _op_name(node: torch.fx.Node) -> str:
    return str(node.target).replace("aten::", "aten.")


def module_path(node: torch.fx.Node) -> str:
    """The dotted path of the innermost nn.Module that produced this node ("" for the top)."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def source_line(node: torch.fx.Node | None) -> str:
    """`file.py:42` of the user code that produced this node (file name only, never a full path)."""
    trace = (node.meta.get("stack_trace") or "") if node is not None else ""
    frames = _FRAME.findall(trace)
    user = [f for f in frames if "/torch/" not in f[0]] or frames
    if not user:
        return "source line unknown"
    path, line = user[-1]
    return f"{path.rsplit('/', 1)[-1]}:{line}"


# --- lowering rules: one per ATen op --------------------------------------------------------

Rule = Callable[..., Any]
T = _Translator


def _dims(x_shape: tuple[int, ...], dims: Any) -> tuple[int, ...]:
    if dims is None or dims == []:
        return tuple(range(len(x_shape)))
    dims = [dims] if isinstance(dims, int) else dims
    return tuple(sorted(d % max(len(x_shape), 1) for d in dims))


def _binary(op: Op) -> Rule:
    return lambda t, a, b: t.add(op, [a, b])


def _unary(op: Op) -> Rule:
    return lambda t, a: t.add(op, [a])


def _add(t: T, a: Any, b: Any, alpha: Any = 1) -> str:
    return t.add(Op.ADD, [a, b if alpha == 1 else t.add(Op.MUL, [b, alpha])])


def _sub(t: T, a: Any, b: Any, alpha: Any = 1) -> str:
    return t.add(Op.SUB, [a, b if alpha == 1 else t.add(Op.MUL, [b, alpha])])


def _div(t: T, a: Any, b: Any, rounding_mode: str | None = None) -> str:
    if rounding_mode is not None:
        raise UnsupportedOpError(
            f"unsupported op aten.div with rounding_mode={rounding_mode!r} at "
            f"%{t.current.name} ({source_line(t.current)})",
            hint="use true division in the model",
        )
    return t.add(Op.DIV, [a, b])


def _clamp(t: T, x: Any, lo: Any = None, hi: Any = None) -> str:
    if lo is not None:
        x = t.add(Op.MAXIMUM, [x, lo])
    if hi is not None:
        x = t.add(Op.MINIMUM, [x, hi])
    return x


def _gelu(t: T, x: Any, approximate: str = "none") -> str:
    """0.5·x·(1 + erf(x/√2)), or the tanh approximation torch uses with approximate='tanh'."""
    if approximate == "tanh":
        cube = t.add(Op.MUL, [t.add(Op.MUL, [x, x]), x])
        inner = t.add(Op.ADD, [x, t.add(Op.MUL, [cube, 0.044715])])
        core = t.add(Op.TANH, [t.add(Op.MUL, [inner, math.sqrt(2 / math.pi)])])
    else:
        core = t.add(Op.ERF, [t.add(Op.MUL, [x, 1 / math.sqrt(2)])])
    return t.add(Op.MUL, [t.add(Op.MUL, [x, 0.5]), t.add(Op.ADD, [core, 1.0])])


def _leaky_relu(t: T, x: Any, slope: float = 0.01) -> str:
    return t.add(Op.WHERE, [t.add(Op.GT, [x, 0.0]), x, t.add(Op.MUL, [x, slope])])


def _addmm(t: T, bias: Any, a: Any, b: Any, beta: Any = 1, alpha: Any = 1) -> str:
    product = t.add(Op.MATMUL, [a, b])
    if alpha != 1:
        product = t.add(Op.MUL, [product, alpha])
    if beta != 1:
        bias = t.add(Op.MUL, [bias, beta])
    return t.add(Op.ADD, [product, bias])


def _reshape(t: T, x: Any, shape: Sequence[int]) -> str:
    return t.add(Op.RESHAPE, [x], shape=tuple(t.current.meta["val"].shape))


def _unsqueeze(t: T, x: Any, *_: Any) -> str:
    return _reshape(t, x, ())


def _permute(t: T, x: Any, dims: Sequence[int]) -> str:
    rank = len(t.shape(x))
    return t.add(Op.PERMUTE, [x], dims=tuple(d % rank for d in dims))


def _transpose(t: T, x: Any, d0: int, d1: int) -> str:
    rank = len(t.shape(x))
    dims = list(range(rank))
    dims[d0 % rank], dims[d1 % rank] = dims[d1 % rank], dims[d0 % rank]
    return t.add(Op.PERMUTE, [x], dims=tuple(dims))


def _t(t: T, x: Any) -> str:
    return _transpose(t, x, 0, -1) if len(t.shape(x)) == 2 else _reshape(t, x, ())


def _expand(t: T, x: Any, shape: Sequence[int], implicit: bool = False) -> str:
    return t.add(Op.EXPAND, [x], shape=tuple(t.current.meta["val"].shape))


def _slice(t: T, x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> str:
    shape = t.shape(x)
    dim %= len(shape)
    start, end, step = slice(start, end, step).indices(shape[dim])
    return t.add(Op.SLICE, [x], dim=dim, start=start, end=end, step=step)


def _select(t: T, x: Any, dim: int, index: int) -> str:
    shape = t.shape(x)
    dim %= len(shape)
    index %= shape[dim]
    picked = t.add(Op.SLICE, [x], dim=dim, start=index, end=index + 1, step=1)
    return t.add(Op.RESHAPE, [picked], shape=shape[:dim] + shape[dim + 1 :])


def _cat(t: T, tensors: Sequence[Any], dim: int = 0) -> str:
    tensors = [x for x in tensors if math.prod(t.shape(x)) > 0 or len(tensors) == 1]
    return t.add(Op.CAT, tensors, dim=dim % len(t.shape(tensors[0])))


def _index(t: T, x: Any, indices: Sequence[Any]) -> str:
    used = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(used) != 1:
        raise UnsupportedOpError(
            f"unsupported op aten.index with {len(used)} index tensors at %{t.current.name} "
            f"({source_line(t.current)})",
            hint="index one dimension at a time (x[idx] or x[:, idx])",
        )
    dim, idx = used[0]
    return t.add(Op.TAKE, [x, idx], dim=dim)


def _flip(t: T, x: Any, dims: Sequence[int]) -> str:
    """x reversed along dims: a TAKE with a descending constant index per dimension."""
    shape = t.shape(x)
    for dim in dims:
        x = t.add(Op.TAKE, [x, torch.arange(shape[dim] - 1, -1, -1)], dim=dim % len(shape))
    return x


def _embedding(t: T, weight: Any, idx: Any, *_: Any) -> str:
    return t.add(Op.TAKE, [weight, idx], dim=0)


def _copy(t: T, x: Any, *_: Any, dtype: torch.dtype | None = None, **__: Any) -> str:
    if dtype is None or dtype_name(dtype) == t.dtype(x):
        return t._as_node(x)
    return t.add(Op.CAST, [x], dtype=dtype_name(dtype))


def _reduction(op: Op) -> Rule:
    def rule(t: T, x: Any, dims: Any = None, keepdim: bool = False, **_: Any) -> str:
        return t.add(op, [x], dims=_dims(t.shape(x), dims), keepdim=keepdim)

    return rule


def _mean(t: T, x: Any, dims: Any = None, keepdim: bool = False, **_: Any) -> str:
    shape = t.shape(x)
    reduced = _dims(shape, dims)
    total = t.add(Op.SUM, [x], dims=reduced, keepdim=keepdim)
    return t.add(Op.DIV, [total, float(math.prod(shape[d] for d in reduced))])


def _max_dim(t: T, x: Any, dim: int, keepdim: bool = False) -> tuple[str, str]:
    dims = _dims(t.shape(x), dim)
    return (
        t.add(Op.AMAX, [x], dims=dims, keepdim=keepdim),
        t.add(Op.ARGMAX, [x], dims=dims, keepdim=keepdim),
    )


def _argmax(t: T, x: Any, dim: int | None = None, keepdim: bool = False) -> str:
    if dim is None:
        x = t.add(Op.RESHAPE, [x], shape=(math.prod(t.shape(x)),))
        dim = 0
    return t.add(Op.ARGMAX, [x], dims=_dims(t.shape(x), dim), keepdim=keepdim)


def _softmax(t: T, x: Any, dim: int, *_: Any) -> str:
    dims = _dims(t.shape(x), dim)
    shifted = t.add(Op.SUB, [x, t.add(Op.AMAX, [x], dims=dims, keepdim=True)])
    exps = t.add(Op.EXP, [shifted])
    return t.add(Op.DIV, [exps, t.add(Op.SUM, [exps], dims=dims, keepdim=True)])


def _log_softmax(t: T, x: Any, dim: int, *_: Any) -> str:
    dims = _dims(t.shape(x), dim)
    shifted = t.add(Op.SUB, [x, t.add(Op.AMAX, [x], dims=dims, keepdim=True)])
    total = t.add(Op.SUM, [t.add(Op.EXP, [shifted])], dims=dims, keepdim=True)
    return t.add(Op.SUB, [shifted, t.add(Op.LOG, [total])])


def _layer_norm(
    t: T, x: Any, normalized: Sequence[int], weight: Any, bias: Any, eps: float
) -> tuple:
    shape = t.shape(x)
    dims = tuple(range(len(shape) - len(normalized), len(shape)))
    count = float(math.prod(normalized))
    mean = t.add(Op.DIV, [t.add(Op.SUM, [x], dims=dims, keepdim=True), count])
    centered = t.add(Op.SUB, [x, mean])
    squares = t.add(Op.SUM, [t.add(Op.MUL, [centered, centered])], dims=dims, keepdim=True)
    rstd = t.add(Op.RSQRT, [t.add(Op.ADD, [t.add(Op.DIV, [squares, count]), eps])])
    out = t.add(Op.MUL, [centered, rstd])
    if weight is not None:
        out = t.add(Op.MUL, [out, weight])
    if bias is not None:
        out = t.add(Op.ADD, [out, bias])
    return (out, mean, rstd)


def _batch_norm(
    t: T, x: Any, weight: Any, bias: Any, mean: Any, var: Any, momentum: float, eps: float
) -> tuple:
    """Eval-mode batch norm: the running statistics are constants, so all but x folds away."""
    rank = len(t.shape(x))
    channel = (-1,) + (1,) * (rank - 2)
    scale = torch.rsqrt(var + eps) * (weight if weight is not None else 1)
    shift = (bias if bias is not None else 0) - mean * scale
    out = t.add(Op.ADD, [t.add(Op.MUL, [x, scale.reshape(channel)]), shift.reshape(channel)])
    return (out, None, None)


def _where(t: T, cond: Any, a: Any, b: Any) -> str:
    return t.add(Op.WHERE, [cond, a, b])


def _masked_fill(t: T, x: Any, mask: Any, value: Any) -> str:
    return t.add(Op.WHERE, [mask, value, x])


LOWERINGS: dict[Any, Rule] = {
    aten.add.Tensor: _add,
    aten.add.Scalar: _add,
    aten.sub.Tensor: _sub,
    aten.sub.Scalar: _sub,
    aten.rsub.Scalar: lambda t, a, b, alpha=1: _sub(t, b, a, alpha),
    aten.mul.Tensor: _binary(Op.MUL),
    aten.mul.Scalar: _binary(Op.MUL),
    aten.div.Tensor: _div,
    aten.div.Scalar: _div,
    aten.div.Tensor_mode: _div,
    aten.pow.Tensor_Scalar: _binary(Op.POW),
    aten.pow.Tensor_Tensor: _binary(Op.POW),
    aten.pow.Scalar: _binary(Op.POW),
    aten.maximum.default: _binary(Op.MAXIMUM),
    aten.minimum.default: _binary(Op.MINIMUM),
    aten.clamp.default: _clamp,
    aten.clamp_min.default: _clamp,
    aten.clamp_max.default: lambda t, x, hi: _clamp(t, x, None, hi),
    aten.hardtanh.default: lambda t, x, lo=-1.0, hi=1.0: _clamp(t, x, lo, hi),
    aten.eq.Tensor: _binary(Op.EQ),
    aten.eq.Scalar: _binary(Op.EQ),
    aten.ne.Tensor: _binary(Op.NE),
    aten.ne.Scalar: _binary(Op.NE),
    aten.lt.Tensor: _binary(Op.LT),
    aten.lt.Scalar: _binary(Op.LT),
    aten.le.Tensor: _binary(Op.LE),
    aten.le.Scalar: _binary(Op.LE),
    aten.gt.Tensor: _binary(Op.GT),
    aten.gt.Scalar: _binary(Op.GT),
    aten.ge.Tensor: _binary(Op.GE),
    aten.ge.Scalar: _binary(Op.GE),
    aten.logical_and.default: _binary(Op.AND),
    aten.logical_or.default: _binary(Op.OR),
    aten.logical_not.default: _unary(Op.NOT),
    aten.bitwise_not.default: _unary(Op.NOT),
    aten.where.self: _where,
    aten.masked_fill.Scalar: _masked_fill,
    aten.masked_fill.Tensor: _masked_fill,
    aten.neg.default: _unary(Op.NEG),
    aten.abs.default: _unary(Op.ABS),
    aten.exp.default: _unary(Op.EXP),
    aten.log.default: _unary(Op.LOG),
    aten.log1p.default: _unary(Op.LOG1P),
    aten.sin.default: _unary(Op.SIN),
    aten.cos.default: _unary(Op.COS),
    aten.sqrt.default: _unary(Op.SQRT),
    aten.rsqrt.default: _unary(Op.RSQRT),
    aten.tanh.default: _unary(Op.TANH),
    aten.sigmoid.default: _unary(Op.SIGMOID),
    aten.relu.default: _unary(Op.RELU),
    aten.erf.default: _unary(Op.ERF),
    aten.gelu.default: _gelu,
    aten.leaky_relu.default: _leaky_relu,
    aten.addmm.default: _addmm,
    aten.mm.default: _binary(Op.MATMUL),
    aten.bmm.default: _binary(Op.MATMUL),
    aten.matmul.default: _binary(Op.MATMUL),
    aten.view.default: _reshape,
    aten.reshape.default: _reshape,
    aten._unsafe_view.default: _reshape,
    aten.unsqueeze.default: _unsqueeze,
    aten.squeeze.dim: _unsqueeze,
    aten.squeeze.dims: _unsqueeze,
    aten.squeeze.default: _unsqueeze,
    aten.flatten.using_ints: _unsqueeze,
    aten.permute.default: _permute,
    aten.transpose.int: _transpose,
    aten.t.default: _t,
    aten.expand.default: _expand,
    aten.slice.Tensor: _slice,
    aten.select.int: _select,
    aten.cat.default: _cat,
    aten.index.Tensor: _index,
    aten.flip.default: _flip,
    aten.embedding.default: _embedding,
    aten.clone.default: _copy,
    aten.alias.default: _copy,
    aten._to_copy.default: _copy,
    aten.detach.default: _copy,
    aten.lift_fresh_copy.default: _copy,
    aten.sum.dim_IntList: _reduction(Op.SUM),
    aten.sum.default: _reduction(Op.SUM),
    aten.amax.default: _reduction(Op.AMAX),
    aten.amin.default: _reduction(Op.AMIN),
    aten.mean.dim: _mean,
    aten.mean.default: _mean,
    aten.max.dim: _max_dim,
    aten.argmax.default: _argmax,
    aten._softmax.default: _softmax,
    aten._log_softmax.default: _log_softmax,
    aten.native_layer_norm.default: _layer_norm,
    aten._native_batch_norm_legit_no_training.default: _batch_norm,
}
