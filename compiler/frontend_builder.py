"""What a lowering rule may use while the front end builds a Graph: add core-op nodes (with the
user's module path and source line attached), read shapes and dtypes, refuse an op in the user's
words. The rule tables (frontend_math, frontend_tensor, frontend_nn) see only this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx

from .graph import Graph
from .ops import Op, dtype_name
from .provenance import origin

__all__ = ["Builder", "Refusal", "Rule", "Unavailable", "reduced_dims", "scalar_tensor"]

Rule = Callable[..., Any]  # (builder, *aten args, **aten kwargs) -> node name | tuple | tensor


class Builder:
    """The graph under construction and the fx node being lowered (`current`)."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.current: torch.fx.Node | None = None

    def add(self, op: Op, inputs: Sequence[Any], **attrs: Any) -> str:
        """A core-op node over graph values or constants (tensors, Python scalars)."""
        names = [self.node(i) for i in inputs]
        place = origin(self.current)
        meta = {"module": place.module, "source": place.where()} if self.current else {}
        name = self.current.name if self.current is not None else None
        return self.graph.add(op, names, attrs, name=name, meta=meta)

    def node(self, value: Any) -> str:
        """A graph value's name; a tensor or Python scalar becomes a constant node."""
        if isinstance(value, str):
            return value
        tensor = value if isinstance(value, torch.Tensor) else scalar_tensor(value)
        return self.graph.add(Op.CONST, value=tensor.detach().clone(), name="c")

    def shape(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            return self.graph[value].shape
        return tuple(torch.as_tensor(value).shape)

    def dtype(self, value: Any) -> str:
        if isinstance(value, str):
            return self.graph[value].dtype
        return dtype_name(torch.as_tensor(value).dtype)

    def map_axis(self, x: Any, dim: int, matrix: torch.Tensor) -> str:
        """x with axis `dim` (size n) sent through a constant linear map, matrix (n, m): a MATMUL
        on the last axis, the axis moved there and back when it is elsewhere."""
        rank = len(self.shape(x))
        if dim % rank == rank - 1:
            return self.add(Op.MATMUL, [x, matrix])
        order = list(range(rank))
        order[dim % rank], order[-1] = order[-1], order[dim % rank]
        moved = self.add(Op.PERMUTE, [x], dims=tuple(order))
        return self.add(Op.PERMUTE, [self.add(Op.MATMUL, [moved, matrix])], dims=tuple(order))

    def traced(self) -> torch.Tensor:
        """The value torch.export recorded for the current node (a meta tensor: shape, dtype)."""
        assert self.current is not None
        value = self.current.meta["val"]
        return value[0] if isinstance(value, (tuple, list)) else value

    def unsupported(self, what: str, hint: str) -> Refusal:
        """What a rule raises when it cannot lower this use of its op (the front end reports it
        with the node's place and goes on)."""
        return Refusal(what, hint)


class Refusal(Exception):
    """A rule's refusal of one use of its op: what is unsupported, and what to do instead."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint


class Unavailable:
    """A result a rule does not compute (e.g. max-pool indices): a node that uses it is
    unsupported, and the error says what it was."""

    def __init__(self, what: str) -> None:
        self.what = what


def scalar_tensor(value: Any) -> torch.Tensor:
    """A Python scalar as a 0-dim tensor that promotes the way a Python scalar does."""
    if isinstance(value, bool):
        return torch.tensor(value)
    if isinstance(value, int):
        return torch.tensor(value, dtype=torch.int64)
    return torch.tensor(float(value), dtype=torch.float64)


def reduced_dims(shape: tuple[int, ...], dims: Any) -> tuple[int, ...]:
    """aten's reduction dims (None, [], an int or a list, negatives allowed) as sorted indices."""
    if dims is None or dims == []:
        return tuple(range(len(shape)))
    dims = [dims] if isinstance(dims, int) else dims
    return tuple(sorted(d % max(len(shape), 1) for d in dims))
