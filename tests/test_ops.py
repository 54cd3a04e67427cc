"""Every supported op, random weights: torch ⇄ interpreter ⇄ JIT ⇄ shared library."""

from __future__ import annotations

from collections.abc import Callable

import nnc
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    AMPLIFYING_RTOL,
    FLOAT32_RTOL,
    assert_matches_model,
    domain_points,
    network_output,
)
from nnc.frontend import to_graph, trace
from nnc.interpret import interpret
from nnc.spec_grammar import parse_inputs
from torch import nn


class Fn(nn.Module):
    """A module around a function of its inputs (and optionally a submodule)."""

    def __init__(self, fn: Callable, sub: nn.Module | None = None) -> None:
        super().__init__()
        self.fn, self.sub = fn, sub

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.sub, *xs) if self.sub is not None else self.fn(*xs)


X4 = "x:float[4]=-2..2"
POS4 = "x:float[4]=0.5..3"
SEQ = "x:float[3,4]=-1..1"

# name → (module factory, input specs, relative tolerance)
CASES: dict[str, tuple[Callable[[], nn.Module], list[str], float]] = {
    "linear": (lambda: nn.Linear(4, 5), [X4], FLOAT32_RTOL),
    "matmul": (lambda: Fn(lambda x: x @ x.transpose(-1, -2)), [SEQ], FLOAT32_RTOL),
    "bmm": (lambda: Fn(lambda x: torch.bmm(x, x.transpose(1, 2))), [SEQ], FLOAT32_RTOL),
    "add_sub_mul_div": (lambda: Fn(lambda x: (x + 1.5) * x - x / 3 + 2 - x), [X4], FLOAT32_RTOL),
    "neg_pow": (lambda: Fn(lambda x: -(x**2) + x**3), [X4], FLOAT32_RTOL),
    "pow_tensor": (lambda: Fn(lambda x: x ** x.flip(-1)), [POS4], AMPLIFYING_RTOL),
    "relu": (lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU()), [X4], FLOAT32_RTOL),
    "leaky_relu": (lambda: nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2)), [X4], FLOAT32_RTOL),
    "tanh": (lambda: nn.Tanh(), [X4], FLOAT32_RTOL),
    "sigmoid": (lambda: nn.Sigmoid(), [X4], FLOAT32_RTOL),
    "gelu": (lambda: nn.GELU(), [X4], FLOAT32_RTOL),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), [X4], FLOAT32_RTOL),
    "silu": (lambda: nn.SiLU(), [X4], FLOAT32_RTOL),
    "softplus": (lambda: nn.Softplus(beta=2.0, threshold=3.0), [X4], FLOAT32_RTOL),
    "exp_log": (lambda: Fn(lambda x: torch.exp(x) + torch.log(x)), [POS4], FLOAT32_RTOL),
    "sin_cos": (lambda: Fn(lambda x: torch.sin(3 * x) * torch.cos(x)), [X4], FLOAT32_RTOL),
    "sqrt_abs": (lambda: Fn(lambda x: torch.sqrt(torch.abs(x) + 0.1)), [X4], FLOAT32_RTOL),
    "clamp": (lambda: Fn(lambda x: torch.clamp(x, -0.5, 0.7) + F.hardtanh(x)), [X4], FLOAT32_RTOL),
    "embedding": (
        lambda: Fn(lambda e, t: e(t).sum(-1), nn.Embedding(10, 3)),
        ["t:int[2]=0..9"],
        FLOAT32_RTOL,
    ),
    "softmax": (lambda: nn.Softmax(dim=-1), [SEQ], FLOAT32_RTOL),
    "log_softmax": (lambda: nn.LogSoftmax(dim=1), [SEQ], FLOAT32_RTOL),
    "layer_norm": (lambda: nn.LayerNorm(4), [SEQ], AMPLIFYING_RTOL),
    "batch_norm": (lambda: _trained_batch_norm(), [X4], FLOAT32_RTOL),
    "reshape_view_flatten": (
        lambda: Fn(lambda x: x.reshape(-1, 2, 6).view(-1, 12).flatten(1)),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "permute_transpose": (
        lambda: Fn(lambda x: x.permute(0, 2, 1).transpose(1, 2) * x),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "cat_stack": (
        lambda: Fn(lambda x: torch.cat([torch.stack([x, 2 * x], 1).flatten(1), x], -1)),
        [X4],
        FLOAT32_RTOL,
    ),
    "slice_select": (
        lambda: Fn(lambda x: x[:, 1:3, ::2] + x[:, 0, None, 1:3]),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "index": (lambda: Fn(lambda x: x[:, torch.tensor([2, 0, 2])]), [X4], FLOAT32_RTOL),
    "sum_mean_max": (
        lambda: Fn(lambda x: x.sum(-1) + x.mean(1).sum(-1, keepdim=True) + x.max(-1).values),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "amin_amax": (
        lambda: Fn(lambda x: torch.amin(x, 1) - torch.amax(x, (1, 2))[:, None]),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "argmax": (lambda: Fn(lambda x: x.argmax(-1)), [SEQ], 0.0),
    "one_hot": (lambda: Fn(lambda t: F.one_hot(t, 5).float().sum(1)), ["t:int[3]=0..4"], 0.0),
    "residual": (
        lambda: Fn(lambda lin, x: x + lin(torch.relu(lin(x))), nn.Linear(4, 4)),
        [X4],
        FLOAT32_RTOL,
    ),
    "where_compare": (
        lambda: Fn(lambda x: torch.where(x > 0.3, x, -x) + (x <= 0).float()),
        [X4],
        FLOAT32_RTOL,
    ),
    "masked_fill": (lambda: Fn(lambda x: x.masked_fill(x < 0, -1.0)), [X4], FLOAT32_RTOL),
    "two_inputs": (
        lambda: Fn(lambda x, y: x * y.sum(-1, keepdim=True)),
        [X4, "y:float[2]=[0..1, y1:{2, 3}]"],
        FLOAT32_RTOL,
    ),
    "integer_arithmetic": (
        lambda: Fn(lambda t: (t * 3 + t.flip(-1) - 7).float() / 2),
        ["t:int[2]=0..20"],
        FLOAT32_RTOL,
    ),
    "float64": (lambda: nn.Linear(4, 2).double(), ["x:double[4]=-1..1"], 1e-12),
    "conv1d": (
        lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
        ["x:float[4,9]=-1..1"],
        FLOAT32_RTOL,
    ),
    "conv2d_depthwise_no_bias": (
        lambda: nn.Conv2d(2, 4, (3, 2), padding=(1, 0), groups=2, bias=False),
        ["x:float[2,4,5]=-1..1"],
        FLOAT32_RTOL,
    ),
    "conv_transpose2d": (
        lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
        ["x:float[2,3,3]=-1..1"],
        FLOAT32_RTOL,
    ),
    "max_pool": (
        lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True),
        ["x:float[2,6,5]=-1..1"],
        FLOAT32_RTOL,
    ),
    "avg_pool": (
        lambda: Fn(
            lambda x: (
                F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)[..., :3, :3]
                + F.avg_pool2d(x, 2, 2, 1, divisor_override=3)[..., :3, :3]
            )
        ),
        ["x:float[1,6,6]=-1..1"],
        FLOAT32_RTOL,
    ),
    "adaptive_pool": (
        lambda: Fn(lambda x: F.adaptive_max_pool2d(x, (2, 3)) + F.adaptive_avg_pool2d(x, (2, 3))),
        ["x:float[1,5,7]=-1..1"],
        FLOAT32_RTOL,
    ),
    "group_instance_norm": (
        lambda: nn.Sequential(nn.GroupNorm(2, 4), nn.InstanceNorm1d(4, affine=True)),
        ["x:float[4,6]=-1..1"],
        AMPLIFYING_RTOL,
    ),
    "upsample": (
        lambda: Fn(
            lambda x: (
                F.interpolate(x, scale_factor=2)
                + F.interpolate(x, size=(4, 6), mode="bilinear", align_corners=True)
            )
        ),
        ["x:float[1,2,3]=-1..1"],
        FLOAT32_RTOL,
    ),
    "elu_selu_celu": (
        lambda: Fn(lambda x: F.elu(x, 0.7) + F.selu(x) + F.celu(x, 0.5)),
        [X4],
        FLOAT32_RTOL,
    ),
    "split_unbind_chunk": (
        lambda: Fn(
            lambda x: (
                x.split([1, 3], -1)[1].sum(-1)
                + x.unbind(1)[2][:, :3]
                + x.chunk(2, 1)[0].sum((1, 2))[:, None]
            )
        ),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "any_all": (
        lambda: Fn(lambda x: (x > 0).any(-1).float() - (x > -0.5).all(-1).float()),
        [SEQ],
        0.0,
    ),
    "full_like_arange": (
        lambda: Fn(lambda x: torch.full_like(x, 3.0) * x + torch.ones_like(x) + torch.arange(4)),
        [X4],
        FLOAT32_RTOL,
    ),
    "cumsum": (lambda: Fn(lambda x: torch.cumsum(x, 1)), [SEQ], FLOAT32_RTOL),
    "gather": (
        lambda: Fn(lambda x, i: torch.gather(x, 1, i)),
        [X4, "i:int[3]=0..3"],
        FLOAT32_RTOL,
    ),
    "index_assignment": (
        lambda: Fn(_assign),
        [X4],
        FLOAT32_RTOL,
    ),
    "integer_division_and_remainder": (
        lambda: Fn(
            lambda t: torch.stack(
                [
                    t[:, 0] % t[:, 1],
                    t[:, 0] // t[:, 1],
                    torch.fmod(t[:, 0], t[:, 1]),
                    torch.div(t[:, 0], t[:, 1], rounding_mode="trunc"),
                ],
                1,
            )
        ),
        ["t:int[2]=[-9..9, d:{-4, -3, -1, 2, 5}]"],
        0.0,
    ),
    "bitwise_and_shifts": (
        lambda: Fn(
            lambda t: torch.stack(
                [t[:, 0] & t[:, 1], t[:, 0] | t[:, 1], t[:, 0] ^ t[:, 1], ~t[:, 0]]
                + [t[:, 0] << 3, t[:, 0] >> 2, t[:, 0] << t[:, 1], t[:, 0] >> t[:, 1]],
                1,
            )
        ),
        ["t:int[2]=[-40..40, 0..70]"],
        0.0,
    ),
    "float_remainder_and_floor_division": (
        lambda: Fn(lambda x: torch.cat([x % 0.7, x // 0.3, torch.fmod(x, -0.45), x.floor()], -1)),
        [X4],
        FLOAT32_RTOL,
    ),
    "var_std_norm": (
        lambda: Fn(
            lambda x: (
                torch.stack(
                    [x.var(-1), x.std(-1, correction=0), x.norm(dim=-1), torch.logsumexp(x, -1)], -1
                )
                + F.normalize(x, dim=-1)[..., :1]
            )
        ),
        [X4],
        FLOAT32_RTOL,
    ),
    "pad_shuffle": (
        lambda: nn.Sequential(
            nn.ReflectionPad2d(1), nn.PixelShuffle(2), nn.ZeroPad2d((0, 1, 1, 0))
        ),
        ["x:float[4,2,2]=-1..1"],
        FLOAT32_RTOL,
    ),
    "multi_index": (
        lambda: Fn(lambda x: x[:, torch.tensor([0, 2, 2]), torch.tensor([[3], [1]])]),
        [SEQ],
        FLOAT32_RTOL,
    ),
    "int32_wraps_around": (
        lambda: Fn(lambda t: (t * 70000) * t + (t << 30) - (t.to(torch.uint8) * 3).int()),
        ["t:int32[2]=-50000..50000"],
        0.0,
    ),
    "float_to_integer_cast": (
        lambda: Fn(lambda x: (x * 2.5).long() + (x > 0.5).long()),
        [X4],
        0.0,
    ),
    "dropout_in_eval": (
        lambda: nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)),
        [X4],
        FLOAT32_RTOL,
    ),
}


def _assign(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, 0] = x[:, 1] * 2
    y[:, 1:3] = 0.5
    y[:, [3]] = x[:, :1]
    return y


def _trained_batch_norm() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(32, 4) * 3 + 1)  # running statistics move away from 0 and 1
    return model.eval()


# The default run checks these ops' linked .so too (a matmul, a convolution, integer and class
# outputs, a row-wise reduction, a table lookup); the slow run checks every op's.
LIBRARY_DEFAULT_RUN = {
    "matmul",
    "conv2d_depthwise_no_bias",
    "integer_arithmetic",
    "argmax",
    "log_softmax",
    "embedding",
}


def _library_marked(names: list[str]) -> list:
    return [
        n if n in LIBRARY_DEFAULT_RUN else pytest.param(n, marks=pytest.mark.slow) for n in names
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch_in_interpreter_and_jit(name: str) -> None:
    factory, specs, rtol = CASES[name]
    model = factory()
    artifact = nnc.compile(model, specs, mode="exact")
    assert artifact.report.fidelity.passed
    assert_matches_model(artifact, model, specs, rtol=rtol)
    parsed = parse_inputs(specs)
    graph = to_graph(trace(model, parsed), parsed)
    point = [torch.from_numpy(p[:1]) for p in domain_points(specs, 1)]
    (value,) = interpret(graph, point)
    expected = network_output(model, *[p.numpy() for p in point])
    np.testing.assert_allclose(value.double().numpy(), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", _library_marked(sorted(CASES)))
def test_op_matches_torch_in_the_linked_library(name: str, tmp_path) -> None:
    factory, specs, rtol = CASES[name]
    model = factory()
    library = nnc.load(nnc.compile(model, specs, mode="exact").save(tmp_path / "op.so"))
    assert_matches_model(library, model, specs, rtol=rtol)


def test_unsupported_op_names_op_node_and_line() -> None:
    model = Fn(lambda x: torch.topk(x, 2).values)
    with pytest.raises(
        nnc.UnsupportedOpError,
        match=r"aten\.topk\.default at %topk \(test_ops\.py:\d+: return self\.fn",
    ):
        nnc.compile(model, [X4], mode="exact")
