"""Lowering rules for tensor layout and indexing: views, permutes, slices and splits, padding,
concatenation, gathers, tensors made from a shape (full_like, zeros_like), cumulative sums and
resampling (interpolate). One row per ATen op in TENSOR_RULES.

Several ops here are linear maps that do not depend on the input's values (cumsum, bilinear
resampling): they become a MATMUL with a constant matrix that torch itself computed, so their
semantics are torch's by construction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch

from .frontend_builder import Builder, Rule
from .ops import DTYPES, Op, dtype_name

__all__ = ["TENSOR_RULES"]

aten = torch.ops.aten
B = Builder


def _reshape(b: B, x: Any, *_: Any) -> str:
    return b.add(Op.RESHAPE, [x], shape=tuple(b.traced().shape))


def _permute(b: B, x: Any, dims: Sequence[int]) -> str:
    rank = len(b.shape(x))
    return b.add(Op.PERMUTE, [x], dims=tuple(d % rank for d in dims))


def _swap(rank: int, d0: int, d1: int) -> tuple[int, ...]:
    dims = list(range(rank))
    dims[d0 % rank], dims[d1 % rank] = dims[d1 % rank], dims[d0 % rank]
    return tuple(dims)


def _transpose(b: B, x: Any, d0: int, d1: int) -> str:
    return b.add(Op.PERMUTE, [x], dims=_swap(len(b.shape(x)), d0, d1))


def _t(b: B, x: Any) -> str:
    return _transpose(b, x, 0, -1) if len(b.shape(x)) == 2 else _reshape(b, x)


def _expand(b: B, x: Any, *_: Any, **__: Any) -> str:
    return b.add(Op.EXPAND, [x], shape=tuple(b.traced().shape))


def _slice(b: B, x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> str:
    shape = b.shape(x)
    dim %= len(shape)
    start, end, step = slice(start, end, step).indices(shape[dim])
    return b.add(Op.SLICE, [x], dim=dim, start=start, end=end, step=step)


def _select(b: B, x: Any, dim: int, index: int) -> str:
    shape = b.shape(x)
    dim %= len(shape)
    index %= shape[dim]
    picked = b.add(Op.SLICE, [x], dim=dim, start=index, end=index + 1, step=1)
    return b.add(Op.RESHAPE, [picked], shape=shape[:dim] + shape[dim + 1 :])


def _split_with_sizes(b: B, x: Any, sizes: Sequence[int], dim: int = 0) -> tuple[str, ...]:
    starts = [0, *itertools.accumulate(sizes)]
    return tuple(_slice(b, x, dim, lo, hi) for lo, hi in itertools.pairwise(starts))


def _split(b: B, x: Any, size: int, dim: int = 0) -> tuple[str, ...]:
    length = b.shape(x)[dim % len(b.shape(x))]
    sizes = [min(size, length - start) for start in range(0, length, size)]
    return _split_with_sizes(b, x, sizes, dim)


def _unbind(b: B, x: Any, dim: int = 0) -> tuple[str, ...]:
    return tuple(_select(b, x, dim, i) for i in range(b.shape(x)[dim % len(b.shape(x))]))


def _cat(b: B, tensors: Sequence[Any], dim: int = 0) -> str:
    tensors = [x for x in tensors if math.prod(b.shape(x)) > 0 or len(tensors) == 1]
    return b.add(Op.CAT, tensors, dim=dim % len(b.shape(tensors[0])))


def _constant_pad(b: B, x: Any, pad: Sequence[int], value: float = 0.0) -> str:
    """F.pad with a constant: crop where a pad is negative, concatenate constant blocks where
    positive; pad lists (before, after) pairs from the last dimension backwards."""
    for pair in range(len(pad) // 2):
        dim = len(b.shape(x)) - 1 - pair
        before, after = pad[2 * pair], pad[2 * pair + 1]
        size = b.shape(x)[dim]
        x = _slice(b, x, dim, max(0, -before), size - max(0, -after))
        parts = []
        for width in (before, None, after):
            if width is None:
                parts.append(x)
            elif width > 0:
                shape = list(b.shape(x))
                shape[dim] = width
                parts.append(torch.full(shape, value, dtype=DTYPES[b.dtype(x)]))
        x = _cat(b, parts, dim) if len(parts) > 1 else x
    return x


def _index(b: B, x: Any, indices: Sequence[Any]) -> str:
    """x[idx] along one dimension by any integer tensor (a TAKE); with several index tensors,
    all constant, torch indexes the positions of x and one TAKE reads them."""
    used = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(used) == 1 and used[0][1] is not None and b.dtype(used[0][1]) != "bool":
        dim, idx = used[0]
        return b.add(Op.TAKE, [x, idx], dim=dim)
    if any(isinstance(i, str) for _, i in used):
        raise b.unsupported(
            "indexing with several index tensors, or a boolean mask, computed from the input "
            "(aten.index)",
            hint="index one dimension at a time (x[idx] or x[:, idx]), or use torch.where",
        )
    target = aten.index.Tensor(_positions(b, x), list(indices))
    return b.add(Op.TAKE, [_flat(b, x), target], dim=0)


def _flip(b: B, x: Any, dims: Sequence[int]) -> str:
    """x reversed along dims: a TAKE with a descending constant index per dimension."""
    shape = b.shape(x)
    for dim in dims:
        x = b.add(Op.TAKE, [x, torch.arange(shape[dim] - 1, -1, -1)], dim=dim % len(shape))
    return x


def _gather(b: B, x: Any, dim: int, index: Any, sparse_grad: bool = False) -> str:
    """torch.gather as one TAKE from the flattened x: flat position = index·stride(dim) + the
    offset of every other coordinate (a constant)."""
    shape, out_shape = b.shape(x), b.shape(index)
    dim %= len(shape)
    strides = torch.tensor([math.prod(shape[d + 1 :]) for d in range(len(shape))])
    grid = torch.meshgrid(*[torch.arange(n) for n in out_shape], indexing="ij")
    offsets = sum(g * s for d, (g, s) in enumerate(zip(grid, strides)) if d != dim)
    flat = b.add(Op.RESHAPE, [x], shape=(math.prod(shape),))
    if isinstance(index, torch.Tensor):  # a constant index: the positions are constant too
        return b.add(Op.TAKE, [flat, index * int(strides[dim]) + offsets], dim=0)
    position = b.add(Op.MUL, [index, int(strides[dim])])
    return b.add(Op.TAKE, [flat, b.add(Op.ADD, [position, torch.as_tensor(offsets)])], dim=0)


def _copy_into(b: B, target: Any, source: Any, non_blocking: bool = False) -> Any:
    """aten.copy (an in-place `x[...] = y` after functionalisation): the source, in the target's
    dtype, broadcast to its shape; the target's values do not matter."""
    traced = b.traced()
    if isinstance(source, torch.Tensor):
        return source.to(traced.dtype).expand(traced.shape).clone()
    if b.dtype(source) != dtype_name(traced.dtype):
        source = b.add(Op.CAST, [source], dtype=dtype_name(traced.dtype))
    if b.shape(source) == tuple(traced.shape):
        return source
    return b.add(Op.EXPAND, [source], shape=tuple(traced.shape))


def _positions(b: B, x: Any) -> torch.Tensor:
    """Every element's flat position in x, shaped like x: the view ops of a scatter or a gather
    applied to it say which elements they touch (torch computes the indexing itself)."""
    shape = b.shape(x)
    return torch.arange(math.prod(shape)).reshape(shape)


def _flat(b: B, x: Any) -> str:
    return b.add(Op.RESHAPE, [x], shape=(math.prod(b.shape(x)),))


def _scatter(b: B, x: Any, source: Any, target: torch.Tensor) -> str:
    """x with source (broadcast to target's shape) written at the flat positions `target`: a TAKE
    says where each written element comes from, a constant mask picks it or x's own."""
    size = math.prod(b.shape(x))
    came_from = torch.zeros(size, dtype=torch.int64)
    written = torch.zeros(size, dtype=torch.bool)
    came_from[target.reshape(-1)] = torch.arange(target.numel())
    written[target.reshape(-1)] = True
    if b.shape(source) != tuple(target.shape):
        source = b.add(Op.EXPAND, [source], shape=tuple(target.shape))
    moved = b.add(Op.TAKE, [_flat(b, source), came_from], dim=0)
    merged = b.add(Op.WHERE, [written, moved, _flat(b, x)])
    return b.add(Op.RESHAPE, [merged], shape=b.shape(x))


def _slice_scatter(
    b: B, x: Any, source: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
) -> str:
    target = aten.slice.Tensor(_positions(b, x), dim, start, end, step)
    return _scatter(b, x, source, target)


def _select_scatter(b: B, x: Any, source: Any, dim: int, index: int) -> str:
    return _scatter(b, x, source, aten.select.int(_positions(b, x), dim, index))


def _index_put(b: B, x: Any, indices: Sequence[Any], values: Any, accumulate: bool = False) -> str:
    """x[idx...] = values with constant index tensors (as written in forward: x[:, [0, 2]] = v)."""
    if accumulate or any(isinstance(i, str) for i in indices):
        raise b.unsupported(
            "assignment through an index tensor computed from the input, or accumulate=True "
            "(aten.index_put)",
            hint="assign through slices (x[:, 1:3] = v) or constant indices (x[:, [0, 2]] = v)",
        )
    return _scatter(b, x, values, aten.index.Tensor(_positions(b, x), list(indices)))


def _embedding(b: B, weight: Any, idx: Any, *_: Any) -> str:
    return b.add(Op.TAKE, [weight, idx], dim=0)


def _copy(b: B, x: Any, *_: Any, dtype: torch.dtype | None = None, **__: Any) -> str:
    if dtype is None or dtype_name(dtype) == b.dtype(x):
        return b.node(x)
    return b.add(Op.CAST, [x], dtype=dtype_name(dtype))


def _filled(b: B, value: Any) -> torch.Tensor:
    """full_like, zeros_like, new_full ...: a constant of the traced shape and dtype (only the
    input's shape matters, and shapes are static)."""
    traced = b.traced()
    return torch.full(tuple(traced.shape), value, dtype=traced.dtype)


def _repeat(b: B, x: Any, repeats: Sequence[int]) -> str:
    """x.repeat(r): interleave a size-r axis before every axis, expand it, merge the pairs."""
    shape = (1,) * (len(repeats) - len(b.shape(x))) + b.shape(x)
    paired = b.add(Op.RESHAPE, [x], shape=tuple(v for n in shape for v in (1, n)))
    grown = b.add(
        Op.EXPAND, [paired], shape=tuple(v for r, n in zip(repeats, shape) for v in (r, n))
    )
    return b.add(Op.RESHAPE, [grown], shape=tuple(r * n for r, n in zip(repeats, shape)))


def _cumsum(b: B, x: Any, dim: int, dtype: torch.dtype | None = None) -> str:
    """Running sum along dim: x (dim moved last) @ an upper-triangular matrix of ones."""
    rank, out = len(b.shape(x)), b.traced().dtype
    dim %= rank
    if dtype_name(out) != b.dtype(x):
        x = b.add(Op.CAST, [x], dtype=dtype_name(out))
    size = b.shape(x)[dim]
    ones = torch.triu(torch.ones(size, size, dtype=out))
    return b.map_axis(x, dim, ones)


def _resample(target: Any) -> Rule:
    """upsample_* (nearest, linear, bilinear, trilinear): separable along each spatial axis, so
    torch itself gives each axis's map by resampling a basis; nearest picks rows (TAKE), the
    interpolating modes multiply by the map's matrix."""

    def rule(b: B, x: Any, *args: Any, **kwargs: Any) -> str:
        shape = b.shape(x)
        for axis in range(2, len(shape)):
            size = shape[axis]
            basis = torch.eye(size, dtype=DTYPES[b.dtype(x)])
            probe = basis.reshape(
                size, 1, *[size if d == axis else 1 for d in range(2, len(shape))]
            )
            probe = probe.expand(size, 1, *shape[2:]).contiguous()
            mapped = target(probe, *args, **kwargs)  # mapped[k] = the map applied to e_k
            matrix = mapped.movedim(axis, -1).reshape(size, -1, mapped.shape[axis])[:, 0, :].T
            if bool(((matrix == 0) | (matrix == 1)).all()) and bool((matrix.sum(1) == 1).all()):
                x = b.add(Op.TAKE, [x, matrix.argmax(1)], dim=axis)
            else:
                x = b.map_axis(x, axis, matrix.T)
        return x

    return rule


TENSOR_RULES: dict[Any, Rule] = {
    aten.view.default: _reshape,
    aten.reshape.default: _reshape,
    aten._unsafe_view.default: _reshape,
    aten.unsqueeze.default: _reshape,
    aten.squeeze.dim: _reshape,
    aten.squeeze.dims: _reshape,
    aten.squeeze.default: _reshape,
    aten.flatten.using_ints: _reshape,
    aten.unflatten.int: _reshape,
    aten.permute.default: _permute,
    aten.transpose.int: _transpose,
    aten.t.default: _t,
    aten.expand.default: _expand,
    aten.slice.Tensor: _slice,
    aten.select.int: _select,
    aten.split_with_sizes.default: _split_with_sizes,
    aten.split.Tensor: _split,
    aten.unbind.int: _unbind,
    aten.cat.default: _cat,
    aten.constant_pad_nd.default: _constant_pad,
    aten.index.Tensor: _index,
    aten.flip.default: _flip,
    aten.gather.default: _gather,
    aten.copy.default: _copy_into,
    aten.slice_scatter.default: _slice_scatter,
    aten.select_scatter.default: _select_scatter,
    aten.index_put.default: _index_put,
    aten.embedding.default: _embedding,
    aten.clone.default: _copy,
    aten.alias.default: _copy,
    aten._to_copy.default: _copy,
    aten.detach.default: _copy,
    aten.lift_fresh_copy.default: _copy,
    aten.full_like.default: lambda b, x, value, **_: _filled(b, value),
    aten.zeros_like.default: lambda b, x, **_: _filled(b, 0),
    aten.ones_like.default: lambda b, x, **_: _filled(b, 1),
    aten.empty_like.default: lambda b, x, **_: _filled(b, 0),
    aten.new_full.default: lambda b, x, size, value, **_: _filled(b, value),
    aten.new_zeros.default: lambda b, x, size, **_: _filled(b, 0),
    aten.new_ones.default: lambda b, x, size, **_: _filled(b, 1),
    aten.new_empty.default: lambda b, x, size, **_: _filled(b, 0),
    aten.repeat.default: _repeat,
    aten.cumsum.default: _cumsum,
    aten.upsample_nearest1d.vec: _resample(aten.upsample_nearest1d.vec),
    aten.upsample_nearest2d.vec: _resample(aten.upsample_nearest2d.vec),
    aten.upsample_nearest3d.vec: _resample(aten.upsample_nearest3d.vec),
    aten.upsample_linear1d.vec: _resample(aten.upsample_linear1d.vec),
    aten.upsample_bilinear2d.vec: _resample(aten.upsample_bilinear2d.vec),
    aten.upsample_trilinear3d.vec: _resample(aten.upsample_trilinear3d.vec),
}
