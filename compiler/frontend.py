"""Front end: trace a torch module with torch.export and translate its core-ATen graph into a Graph.

Each supported ATen op has one row in LOWERINGS, assembled from the rule tables by family
(frontend_math: arithmetic and reductions; frontend_tensor: layout, indexing and resampling;
frontend_nn: products, convolution, pooling, normalisation, activations). Subexpressions over
constants only (weights, masks, `arange`) are evaluated by torch itself while tracing, so they
arrive as constants. The translation visits the whole graph before it gives up: every op nnc
cannot compile is listed at once, with the user's module path and source line.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from .errors import InputError, InternalError, UnsupportedOpError
from .frontend_builder import Builder, Refusal, Rule, Unavailable
from .frontend_math import MATH_RULES
from .frontend_nn import NN_RULES
from .frontend_tensor import TENSOR_RULES
from .graph import Graph
from .ops import Op, dtype_name
from .provenance import origin
from .spec import InputSpec
from .torch_model import EXPORT_LOCK, eval_mode, example_inputs

__all__ = ["LOWERINGS", "Problem", "op_name", "to_graph", "trace"]

LOWERINGS: dict[Any, Rule] = {**MATH_RULES, **TENSOR_RULES, **NN_RULES}
MAX_LISTED = 30  # unsupported uses listed in one error; the rest are counted


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
    """Translate an exported program into a Graph with one INPUT node per spec; every op nnc
    cannot compile is reported in one UnsupportedOpError (its `problems` list them)."""
    translator = _Translator(program, specs)
    graph = translator.run()
    if translator.problems:
        raise _unsupported_error(translator.problems)
    return graph


@dataclass(frozen=True)
class Problem:
    """One use of something nnc cannot compile: what, at which fx node, where the user wrote it."""

    what: str  # e.g. "unsupported op aten.cumsum.default"
    op: str  # the ATen op of the node, e.g. "aten.cumsum.default"
    node: str
    where: str  # module path and source line (provenance.Origin.where)
    hint: str

    def line(self) -> str:
        return f"{self.what} at %{self.node} ({self.where})"


class _Poisoned:
    """The value of a node that depends on something unsupported: not lowered, not reported
    again unless its own op is unknown too."""


_POISONED = _Poisoned()


class _Translator(Builder):
    """Walks the exported fx graph once, in order, keeping fx node → Graph value (or constant)."""

    def __init__(self, program: torch.export.ExportedProgram, specs: Sequence[InputSpec]) -> None:
        super().__init__()
        self.program = program
        self.specs = list(specs)
        self.values: dict[str, Any] = {}  # fx node name → Graph node name | tensor | tuple
        self.problems: list[Problem] = []

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
        self.current = None
        result = self.values[results[0].name]
        if not self.problems:
            self.graph.outputs = [self.node(result)]
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
            return self._item(node)
        args = torch.fx.node.map_arg(node.args, lambda n: self.values[n.name])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: self.values[n.name])
        flat = _flatten((args, kwargs))
        rule = LOWERINGS.get(node.target) or LOWERINGS.get(
            getattr(node.target, "overloadpacket", None)
        )
        if not _static_shape(node):
            self._report(
                node,
                f"{op_name(node)} with a result whose shape depends on the input's values",
                "nnc compiles fixed shapes: use torch.where or multiply by a mask instead of "
                "boolean indexing or nonzero",
            )
            return _POISONED
        unavailable = [v for v in flat if isinstance(v, Unavailable)]
        if unavailable:
            self._report(node, f"use of {unavailable[0].what}", "compute it another way")
            return _POISONED
        if any(v is _POISONED for v in flat):
            if rule is None:
                self._report_unknown(node)
            return _POISONED
        if not any(isinstance(v, str) for v in flat):
            return node.target(*args, **kwargs)  # a constant subexpression: evaluate it now
        if rule is None:
            self._report_unknown(node)
            return _POISONED
        try:
            result = rule(self, *args, **kwargs)
        except Refusal as refusal:
            self._report(node, refusal.what, refusal.hint)
            return _POISONED
        return self._match_meta(node, result) if isinstance(result, str) else result

    def _item(self, node: torch.fx.Node) -> Any:
        source = self.values[node.args[0].name]
        return source if source is _POISONED else source[node.args[1]]

    def _report_unknown(self, node: torch.fx.Node) -> None:
        self._report(
            node,
            f"unsupported op {op_name(node)}",
            "nnc cannot compile it; replace it in the model with supported ops "
            "(see `nnc --list-ops`)",
        )

    def _report(self, node: torch.fx.Node, what: str, hint: str) -> None:
        self.problems.append(Problem(what, op_name(node), node.name, origin(node).where(), hint))

    def _match_meta(self, node: torch.fx.Node, name: str) -> str:
        """Cast to the dtype torch.export recorded and insist on its shape."""
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            return name
        built = self.graph[name]
        if built.shape != tuple(val.shape):
            raise InternalError(
                f"lowering {op_name(node)} at %{node.name} built shape {built.shape}, "
                f"torch says {tuple(val.shape)}",
                hint="this is a bug in nnc's front end; please report it",
            )
        if built.dtype != dtype_name(val.dtype):
            return self.add(Op.CAST, [name], dtype=dtype_name(val.dtype))
        return name


def _unsupported_error(problems: list[Problem]) -> UnsupportedOpError:
    """One error listing every unsupported use (the first MAX_LISTED), with the first's hint."""
    lines = [p.line() for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more")
    summary = (
        lines[0]
        if len(problems) == 1
        else f"nnc cannot compile {len(problems)} operations of the model:\n  " + "\n  ".join(lines)
    )
    return UnsupportedOpError(summary, hint=problems[0].hint, problems=problems)


def _static_shape(node: torch.fx.Node) -> bool:
    """Whether torch.export knows the node's shape(s) as numbers (not data-dependent symbols)."""
    values = node.meta.get("val")
    values = values if isinstance(values, (tuple, list)) else [values]
    return all(
        all(isinstance(d, int) for d in v.shape) for v in values if isinstance(v, torch.Tensor)
    )


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


def op_name(node: torch.fx.Node) -> str:
    """`aten.cumsum.default`, as users see ATen ops in torch's documentation."""
    return str(node.target).replace("aten::", "aten.")
