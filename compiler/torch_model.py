"""How nnc calls the user's torch model: in eval mode, on example inputs shaped as traced, on
batches of domain points; and the lock that serialises torch.export, whose state is global."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .errors import InputError
from .ops import DTYPES
from .spec import InputSpec

__all__ = [
    "CHUNK",
    "CHUNK_BYTES",
    "EXPORT_LOCK",
    "chunk_for",
    "eval_mode",
    "example_inputs",
    "model_gradient",
    "run_model",
]

CHUNK = 4096  # samples per model call at most
CHUNK_BYTES = 256 << 20  # and at most this much of the network's per-sample values per call
# NOTE: torch.export keeps global state (mode stacks, the current deserializer), and while one
# thread exports, torch calls in every other thread see it too (torch.compiler.is_exporting() is
# process-wide: meta-tensor shape inference then edits fx's global annotation dict). So every
# export, load and decomposition holds this lock, and so does nnc.compile as a whole.
EXPORT_LOCK = threading.RLock()


def example_inputs(specs: Sequence[InputSpec]) -> tuple[torch.Tensor, ...]:
    """One sample of every input with a leading batch dimension of 1, as the model is traced."""
    out = []
    for spec in specs:
        if spec.calibration is not None:
            sample = torch.as_tensor(spec.calibration[:1])
        else:
            sample = torch.from_numpy(spec.first_values()).reshape(1, *spec.shape)
        out.append(sample.to(DTYPES[spec.dtype]))
    return tuple(out)


def chunk_for(sample_bytes: int) -> int:
    """Samples per model call: CHUNK, fewer when a sample's values take more than
    CHUNK_BYTES / CHUNK (a ResNet-18 sample holds tens of MB of activations)."""
    return max(1, min(CHUNK, CHUNK_BYTES // max(1, sample_bytes)))


def run_model(
    model: Callable[..., Any], inputs: Sequence[np.ndarray], batch: int | None = None
) -> np.ndarray:
    """The network's output on the points, as float64 (n, *per-sample shape), `batch` (by
    default CHUNK) samples at a time."""
    n, step = len(inputs[0]), batch or CHUNK
    outputs = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, n, step):
            chunk = [
                torch.from_numpy(np.ascontiguousarray(a[start : start + step])) for a in inputs
            ]
            try:
                out = model(*chunk)
            except Exception as error:  # the model and the spec disagree: a user's mistake
                raise _model_failed(error, len(chunk[0])) from error
            if not isinstance(out, torch.Tensor):
                raise InputError(
                    f"the model returned {type(out).__name__}, not a tensor",
                    hint="wrap the model so forward returns a single tensor",
                )
            outputs.append(out.detach().double().numpy())
    return np.concatenate(outputs)


def _model_failed(error: Exception, batch: int) -> InputError:
    text = str(error).strip()
    return InputError(
        f"the model fails on points of the input domain: on a batch of {batch} samples "
        f"({type(error).__name__}: {text.splitlines()[0][:200] if text else ''})",
        hint="check that every input spec matches what forward() takes: its dtype (int or float), "
        "shape and ranges (token ids below the embedding's size, values the model accepts); nnc "
        "traces forward() at batch size 1 and runs the network on batches, so forward() must "
        "work for any batch size (no reduction or broadcast across the batch dimension)",
    )


def model_gradient(
    model: Callable[..., Any], inputs: Sequence[np.ndarray], batch: int | None = None
) -> np.ndarray:
    """∂output/∂input at the points by autograd: float64 (n, output elements, input elements of
    all inputs, flattened in order). Samples are independent at inference, so the gradient of
    the batch's sum is every sample's own gradient."""
    n, step = len(inputs[0]), batch or CHUNK
    rows = []
    with torch.enable_grad(), eval_mode(model):
        for start in range(0, n, step):
            chunk = [
                torch.from_numpy(np.ascontiguousarray(a[start : start + step])).requires_grad_()
                for a in inputs
            ]
            out = model(*chunk).reshape(len(chunk[0]), -1)
            per_output = []
            for k in range(out.shape[1]):
                grads = torch.autograd.grad(
                    out[:, k].sum(), chunk, retain_graph=True, allow_unused=True
                )
                per_output.append(
                    torch.cat(
                        [
                            (g if g is not None else torch.zeros_like(c)).reshape(len(c), -1)
                            for g, c in zip(grads, chunk)
                        ],
                        dim=1,
                    )
                )
            rows.append(torch.stack(per_output, dim=1).detach().double().numpy())
    return np.concatenate(rows)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Trace what the model does at inference (dropout off, batch-norm statistics frozen)."""
    if isinstance(model, torch.fx.GraphModule):  # from an ExportedProgram: already fixed
        yield
        return
    was_training = model.training
    model.train(False)
    try:
        yield
    finally:
        model.train(was_training)
