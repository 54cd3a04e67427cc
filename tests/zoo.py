"""The zoo: stock torch.nn architectures written the way users write them (random weights, small
widths), each with its input spec and the layers and options it exercises. tests/test_zoo.py
compiles every one, and README's supported-layer table is generated from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNSUPPORTED", "ZOO", "Entry", "build", "coverage_table"]


@dataclass(frozen=True)
class Entry:
    """One zoo model: how to build it, its input specs, the family and features it covers."""

    factory: Callable[[], nn.Module]
    specs: tuple[str, ...]
    family: str
    covers: str  # the layers and options, as README lists them
    slow: bool = False


def build(name: str) -> nn.Module:
    """The zoo model `name` with its deterministic random weights, in eval mode."""
    torch.manual_seed(0)
    return ZOO[name].factory().eval()


def _with_statistics(model: nn.Module, *shape: int) -> nn.Module:
    """Move batch-norm running statistics away from 0 and 1, as training would."""
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(16, *shape) * 2 + 0.5)
    return model.eval()


class Lambda(nn.Module):
    """forward(x, ...) = fn(self.inner, x, ...): the small glue users write around a layer."""

    def __init__(self, fn: Callable, inner: nn.Module | None = None) -> None:
        super().__init__()
        self.fn, self.inner = fn, inner

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.inner, *xs) if self.inner is not None else self.fn(*xs)


# --- convolutional networks -----------------------------------------------------------------


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3×3 convolutions with batch norm, a strided 1×1 shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (8, 16, 32), blocks: int = 1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        layers, cin = [], widths[0]
        for index, width in enumerate(widths):
            for block in range(blocks):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(cin, width, stride))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class ResNet18(nn.Module):
    """torchvision's resnet18 layout (11.7 M parameters) at 3×224×224."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, cin = [], 64
        for index, width in enumerate((64, 128, 256, 512)):
            for block in range(2):
                layers.append(BasicBlock(cin, width, 2 if index > 0 and block == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))
        return x * scale


class MobileNetBlock(nn.Module):
    """MobileNetV3's inverted residual: expand 1×1, depthwise 3×3 (stride 2), squeeze-excite,
    project 1×1, with Hardswish."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish()
        )
        self.expand = nn.Sequential(
            nn.Conv2d(8, 24, 1, bias=False), nn.BatchNorm2d(24), nn.Hardswish()
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(24, 24, 3, 2, 1, groups=24, bias=False), nn.BatchNorm2d(24), nn.Hardswish()
        )
        self.se = SqueezeExcite(24, 8)
        self.project = nn.Sequential(nn.Conv2d(24, 12, 1, bias=False), nn.BatchNorm2d(12))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.project(self.se(self.depthwise(self.expand(self.stem(x))))))


def _conv1d_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(4, 4, 3, padding="same", dilation=2, groups=2, bias=False),
        nn.AvgPool1d(3, stride=1, padding=1, ceil_mode=True),
        nn.Conv1d(4, 3, 2, padding="same", padding_mode="reflect"),
        nn.AdaptiveMaxPool1d(3),
        nn.Flatten(),
        nn.Linear(9, 3),
    )


def _conv2d_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.Conv2d(4, 4, 3, padding="same", dilation=2, groups=2),
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
        nn.Conv2d(4, 6, (1, 3), padding=(0, 1), stride=(1, 2)),
        nn.Conv2d(6, 2, 2, padding="same", padding_mode="replicate"),
        nn.Flatten(),
    )


def _conv_transpose_net() -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 4, 3, groups=2, dilation=2, bias=False),
        nn.Flatten(),
    )


def _pooling_net() -> nn.Module:
    return nn.Sequential(
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
        nn.AvgPool2d(2, stride=1, padding=1),
        nn.MaxPool2d(2, stride=1, dilation=2),
        Lambda(
            lambda x: torch.cat(
                [F.adaptive_max_pool2d(x, (2, 3)), F.adaptive_avg_pool2d(x, (2, 3))], 1
            )
        ),
        nn.Flatten(),
    )


def _small_cnn() -> nn.Module:
    """The first CNN people write: two Conv2d + BatchNorm2d + ReLU + MaxPool2d stages, a head."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 3),
    )
    return _with_statistics(model, 1, 8, 8)


def _norm_net() -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.GroupNorm(2, 4),
        nn.InstanceNorm2d(4, affine=True),
        nn.ReLU(),
        nn.InstanceNorm2d(4),
        nn.Flatten(),
    )
    return _with_statistics(model, 3, 6, 6)


def _resample_net() -> nn.Module:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(2, 2, 3),
        nn.Upsample(scale_factor=1.5, mode="bilinear"),
        nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True),
        Lambda(lambda x: F.interpolate(x, size=(3, 4), mode="nearest")),
        nn.Flatten(),
    )


# --- activations ---------------------------------------------------------------------------


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "ELU": lambda: nn.ELU(alpha=0.7),
    "SELU": nn.SELU,
    "CELU": lambda: nn.CELU(alpha=0.5),
    "Mish": nn.Mish,
    "PReLU": lambda: nn.PReLU(6),
    "Hardswish": nn.Hardswish,
    "Hardsigmoid": nn.Hardsigmoid,
    "ReLU6": nn.ReLU6,
    "Hardtanh": lambda: nn.Hardtanh(-0.5, 0.8),
    "Softsign": nn.Softsign,
    "LogSigmoid": nn.LogSigmoid,
    "Tanhshrink": nn.Tanhshrink,
    "Dropout": lambda: nn.Dropout(0.3),
    "SiLU": nn.SiLU,
    "RReLU": nn.RReLU,
}


class Activations(nn.Module):
    """Every activation layer on its own branch after one hidden layer, then a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 6)
        self.branches = nn.ModuleList([make() for make in ACTIVATIONS.values()])
        self.head = nn.Linear(6 * len(ACTIVATIONS), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden(x)
        return self.head(torch.cat([branch(h) for branch in self.branches], -1))


def _image_ops() -> nn.Module:
    return nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.ReplicationPad2d((1, 0, 0, 1)),
        nn.CircularPad2d(1),
        nn.ZeroPad2d((0, 1, 1, 0)),
        nn.PixelUnshuffle(2),
        nn.ChannelShuffle(2),
        nn.PixelShuffle(2),
        nn.LocalResponseNorm(2),
        nn.Softmax2d(),
        nn.Upsample(scale_factor=2, mode="bicubic"),
        nn.Unfold(3, stride=2),
        nn.Flatten(),
    )


def _conv3d() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(1, 2, 2, padding=1),
        nn.MaxPool3d(2),
        nn.AvgPool3d(2, ceil_mode=True),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
    )


class Statistics(nn.Module):
    """Layers and functions built from reductions: var/std, norms, similarities, GLU, shrinkage."""

    def __init__(self) -> None:
        super().__init__()
        self.gates = nn.Sequential(
            nn.Linear(6, 8), nn.GLU(), nn.Hardshrink(0.2), nn.Softshrink(0.1)
        )
        self.threshold = nn.Threshold(0.1, -2.0)
        self.softmin = nn.Softmin(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.stack(
            [
                x.var(-1),
                x.std(-1, correction=0),
                x.norm(dim=-1),
                torch.linalg.vector_norm(x, 1, -1),
                torch.logsumexp(x, -1),
                F.cosine_similarity(x, x.flip(-1), -1),
                F.pairwise_distance(x, 2 * x),
            ],
            -1,
        )
        normed = F.normalize(x, dim=-1)
        return torch.cat([stats, self.gates(x), self.threshold(x), self.softmin(normed)], -1)


# --- recurrent networks --------------------------------------------------------------------


class Recurrent(nn.Module):
    """A recurrent layer as users wrap it: run over the sequence, classify from the outputs.

    `given_state` takes the initial state as a second input, batch first (nnc's inputs are), and
    moves the batch to where torch wants it; `batch_first=False` transposes the sequence."""

    def __init__(self, layer: nn.RNNBase, given_state: bool = False) -> None:
        super().__init__()
        self.layer = layer
        self.given_state = given_state
        width = getattr(layer, "proj_size", 0) or layer.hidden_size
        self.head = nn.Linear(width * (2 if layer.bidirectional else 1), 2)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> torch.Tensor:
        if not self.layer.batch_first:
            x = x.transpose(0, 1)
        if self.given_state:
            states = tuple(s.transpose(0, 1).contiguous() for s in state)
            out, _ = self.layer(x, states if isinstance(self.layer, nn.LSTM) else states[0])
        else:
            out, _ = self.layer(x)
        last = out[:, -1] if self.layer.batch_first else out[-1]
        return self.head(last)


SEQ = "x:float[3,3]=-1..1"  # three time steps: every step is unrolled into the graph
LONG_SEQ = "x:float[5,3]=-1..1"


def _state(layers: int, hidden: int, name: str = "h") -> str:
    return f"{name}:float[{layers},{hidden}]=-1..1"


# --- attention -----------------------------------------------------------------------------


class FusedQKV(nn.Module):
    """Self-attention with one qkv projection split three ways, heads by view, and SDPA."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).split(dim, dim=-1)
        q, k, v = (t.view(n, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(attended.transpose(1, 2).reshape(n, length, dim))


class PaddedEncoder(nn.Module):
    """Token ids → embedding → a stock TransformerEncoder (sequence first) with a key padding
    mask computed from the tokens (token 0 is padding; position 0 always holds a real token)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        padding = tokens == 0
        padding[:, 0] = False
        encoded = self.encoder(self.embed(tokens).transpose(0, 1), src_key_padding_mask=padding)
        return self.head(encoded[0])


def _causal_layer(norm_first: bool) -> nn.Module:
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=norm_first)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    return Lambda(lambda inner, x: inner(x, src_mask=mask, is_causal=True), layer)


def _mha() -> nn.Module:
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    return Lambda(lambda inner, x: inner(x, x, x, attn_mask=mask)[0], attention)


def _sdpa_masked() -> nn.Module:
    def attend(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        mask = keep[:, None, None, :] > 0
        mask = mask | torch.eye(4, dtype=torch.bool)  # every query sees itself: no empty row
        q = x.view(x.shape[0], 4, 2, 3).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q * 0.5, q, attn_mask=mask).flatten(1)

    return Lambda(attend)


# --- tensor operations written in forward ------------------------------------------------------


def _integer_arithmetic(t: torch.Tensor) -> torch.Tensor:
    a, b = t[:, 0], t[:, 1]
    out = (a + b) % 7 + a // 3 + torch.fmod(a - b, 4) + torch.div(a - 9, 4, rounding_mode="trunc")
    out = out + (a & b) + (a | 5) + (a ^ b) + (~b) + (a << 2) + (b >> 1)
    return torch.stack([out, torch.remainder(-a, 5), a.float().floor_divide(2.5).long()], 1)


def _tensor_ops(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    first, second = x.split([1, 3], dim=-1)
    halves = x.chunk(2, dim=1)
    rows = x.unbind(1)
    signs = torch.stack([(x > 0).any(-1), (x > 0).all(-1)], -1).float()
    made = torch.full_like(x, 2.0) * x + torch.zeros_like(x) + torch.ones_like(x) + torch.arange(4)
    summed = torch.cumsum(x, -1) + torch.einsum("bij,bkj->bik", x, x).sum(-1, keepdim=True)
    picked = torch.gather(x, 2, idx[:, None, :].expand(-1, 3, -1))
    parts = [first.sum(-1), second.sum(-1), halves[1].sum((1, 2))[:, None], rows[0] + rows[2]]
    return torch.cat([p.flatten(1) for p in [*parts, signs, made, summed, picked]], 1)


def _assignment(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, 0] = x[:, 1] * 2
    y[:, 1:3] = 0.5
    y[:, ::2] += 1
    y[:, [3]] = x[:, :1]
    return y


def _one_hot_mlp() -> nn.Module:
    linear = nn.Sequential(nn.Linear(15, 8), nn.ReLU(), nn.Linear(8, 2))
    return Lambda(
        lambda inner, t: inner((t[..., None] == torch.arange(5)).float().view(t.shape[0], -1)),
        linear,
    )


def _embedding_mlp() -> nn.Module:
    model = nn.Sequential(
        nn.Embedding(7, 4), nn.Flatten(), nn.Linear(12, 6), nn.GELU(), nn.Linear(6, 3)
    )
    return model


IMAGE = "x:float[3,32,32]=-1..1"

ZOO: dict[str, Entry] = {
    "conv1d": Entry(
        _conv1d_net,
        ("x:float[2,16]=-1..1",),
        "convolution",
        "Conv1d (stride, padding incl. 'same' and reflect, dilation, groups, no bias), "
        "MaxPool1d, AvgPool1d (ceil_mode, padding), AdaptiveMaxPool1d",
    ),
    "conv2d": Entry(
        _conv2d_net,
        ("x:float[3,9,9]=-1..1",),
        "convolution",
        "Conv2d (stride, padding incl. 'same' and replicate, dilation, groups, depthwise, "
        "rectangular kernels, no bias)",
    ),
    "small_cnn": Entry(
        _small_cnn,
        ("x:float[1,8,8]=-1..1",),
        "convolution",
        "Conv2d + BatchNorm2d (eval) + ReLU + MaxPool2d, twice, then Linear",
    ),
    "conv_transpose": Entry(
        _conv_transpose_net,
        ("x:float[3,4,4]=-1..1",),
        "convolution",
        "ConvTranspose2d (stride, padding, output_padding, groups, dilation, no bias)",
    ),
    "conv_transpose1d": Entry(
        lambda: nn.Sequential(nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1), nn.Flatten()),
        ("x:float[3,5]=-1..1",),
        "convolution",
        "ConvTranspose1d",
    ),
    "pooling": Entry(
        _pooling_net,
        ("x:float[2,11,11]=-1..1",),
        "convolution",
        "MaxPool2d (padding, ceil_mode, dilation), AvgPool2d (count_include_pad, ceil_mode), "
        "AdaptiveMaxPool2d, AdaptiveAvgPool2d (uneven windows)",
    ),
    "normalisation": Entry(
        _norm_net,
        ("x:float[3,6,6]=-1..1",),
        "convolution",
        "BatchNorm2d (eval), GroupNorm, InstanceNorm2d (affine or not)",
        slow=True,
    ),
    "resampling": Entry(
        _resample_net,
        ("x:float[2,3,3]=-1..1",),
        "convolution",
        "Upsample / interpolate (nearest, bilinear, align_corners, scale_factor or size)",
    ),
    "image_ops": Entry(
        _image_ops,
        ("x:float[4,4,4]=-1..1",),
        "convolution",
        "ReflectionPad2d, ReplicationPad2d, CircularPad2d, ZeroPad2d, PixelShuffle, "
        "PixelUnshuffle, ChannelShuffle, LocalResponseNorm, Softmax2d, Upsample (bicubic), "
        "Unfold",
        slow=True,
    ),
    "conv3d": Entry(
        _conv3d,
        ("x:float[1,4,4,4]=-1..1",),
        "convolution",
        "Conv3d, MaxPool3d, AvgPool3d (ceil_mode), AdaptiveAvgPool3d",
    ),
    "lenet5": Entry(LeNet5, ("x:float[1,28,28]=-1..1",), "convolution", "LeNet-5"),
    "resnet_small": Entry(
        lambda: _with_statistics(ResNet(), 3, 32, 32),
        (IMAGE,),
        "convolution",
        "ResNet (basic blocks, strided 1×1 downsample, BatchNorm2d, global average pool)",
        slow=True,
    ),
    "mobilenet_block": Entry(
        lambda: _with_statistics(MobileNetBlock(), 3, 32, 32),
        (IMAGE,),
        "convolution",
        "MobileNetV3 block (expand, depthwise stride 2, squeeze-excite, Hardswish, "
        "Hardsigmoid, project)",
        slow=True,
    ),
    "resnet18": Entry(
        lambda: _with_statistics(ResNet18(), 3, 224, 224),
        ("x:float[3,224,224]=-1..1",),
        "convolution",
        "ResNet-18 (11.7 M parameters, 3×224×224)",
        slow=True,
    ),
    "activations": Entry(
        Activations, ("x:float[4]=-3..3",), "activation", ", ".join(ACTIVATIONS) + " (eval)"
    ),
    "statistics": Entry(
        Statistics,
        ("x:float[6]=-1..1",),
        "activation",
        "var, std, norm, vector_norm, logsumexp, normalize, cosine_similarity, "
        "pairwise_distance, GLU, Hardshrink, Softshrink, Threshold, Softmin",
        slow=True,
    ),
    "rnn": Entry(
        lambda: Recurrent(nn.RNN(3, 5, num_layers=2, batch_first=True)),
        (SEQ,),
        "recurrent",
        "RNN (tanh, 2 layers, batch_first, zero initial state)",
        slow=True,
    ),
    "rnn_relu_state": Entry(
        lambda: Recurrent(nn.RNN(3, 5, nonlinearity="relu"), given_state=True),
        (SEQ, _state(1, 5)),
        "recurrent",
        "RNN (relu, sequence first, given initial state)",
    ),
    "lstm_state": Entry(
        lambda: Recurrent(nn.LSTM(3, 4), given_state=True),
        (SEQ, _state(1, 4), _state(1, 4, "c")),
        "recurrent",
        "LSTM (sequence first, given (h, c))",
    ),
    "lstm_projected": Entry(
        lambda: Recurrent(nn.LSTM(3, 4, proj_size=2, batch_first=True)),
        (SEQ,),
        "recurrent",
        "LSTM (proj_size)",
        slow=True,
    ),
    "gru": Entry(
        lambda: Recurrent(nn.GRU(3, 4, batch_first=True)),
        (SEQ,),
        "recurrent",
        "GRU (batch_first, zero initial state)",
    ),
    "lstm_deep": Entry(
        lambda: Recurrent(nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)),
        (LONG_SEQ,),
        "recurrent",
        "LSTM (2 layers, bidirectional, batch_first)",
        slow=True,
    ),
    "gru_deep_state": Entry(
        lambda: Recurrent(nn.GRU(3, 4, num_layers=2, bidirectional=True), given_state=True),
        (LONG_SEQ, _state(4, 4)),
        "recurrent",
        "GRU (2 layers, bidirectional, sequence first, given state)",
        slow=True,
    ),
    "encoder_layer": Entry(
        lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
        ("x:float[5,8]=-1..1",),
        "attention",
        "TransformerEncoderLayer (batch_first, post-norm, no mask)",
        slow=True,
    ),
    "encoder_layer_seq_first": Entry(
        lambda: Lambda(
            lambda inner, x: inner(x.transpose(0, 1)).transpose(0, 1),
            nn.TransformerEncoderLayer(8, 2, 16, batch_first=False),
        ),
        ("x:float[5,8]=-1..1",),
        "attention",
        "TransformerEncoderLayer (sequence first, post-norm, no mask)",
        slow=True,
    ),
    "encoder_layer_causal": Entry(
        lambda: _causal_layer(norm_first=True),
        ("x:float[5,8]=-1..1",),
        "attention",
        "TransformerEncoderLayer (norm_first, causal src_mask)",
        slow=True,
    ),
    "transformer": Entry(
        lambda: Lambda(
            lambda inner, x: inner(x, x.flip(1)), nn.Transformer(8, 2, 1, 1, 16, batch_first=True)
        ),
        ("x:float[4,8]=-1..1",),
        "attention",
        "Transformer (encoder and decoder layer, cross-attention, batch_first)",
        slow=True,
    ),
    "encoder_padded": Entry(
        PaddedEncoder,
        ("t:int[6]=0..2",),
        "attention",
        "TransformerEncoder (2 layers, sequence first, gelu, key padding mask from the input), "
        "Embedding",
        slow=True,
    ),
    "multihead_attention": Entry(
        _mha, ("x:float[5,8]=-1..1",), "attention", "MultiheadAttention (boolean attn_mask)"
    ),
    "sdpa_masked": Entry(
        _sdpa_masked,
        ("x:float[4,6]=-1..1", "keep:int[4]=0..1"),
        "attention",
        "scaled_dot_product_attention (boolean mask from an input)",
    ),
    "fused_qkv": Entry(
        FusedQKV,
        ("x:float[5,8]=-1..1",),
        "attention",
        "fused qkv Linear split three ways, heads by view, causal scaled_dot_product_attention",
    ),
    "tensor_ops": Entry(
        lambda: Lambda(_tensor_ops),
        ("x:float[3,4]=-1..1", "idx:int[4]=0..3"),
        "tensor",
        "split, chunk, unbind, any, all, full_like, zeros_like, ones_like, arange, cumsum, "
        "einsum, gather",
    ),
    "integer_arithmetic": Entry(
        lambda: Lambda(_integer_arithmetic),
        ("t:int[2]=0..20",),
        "tensor",
        "integer %, //, fmod, div(rounding_mode='trunc'), &, |, ^, ~, <<, >> (exact)",
    ),
    "assignment": Entry(
        lambda: Lambda(_assignment),
        ("x:float[4]=-1..1",),
        "tensor",
        "in-place assignment in forward (x[:, 0] = ..., slices with steps, an index list, +=)",
    ),
    "one_hot_mlp": Entry(
        _one_hot_mlp,
        ("t:int[3]=0..4",),
        "tensor",
        "one-hot by comparison with arange, view, Linear",
    ),
    "embedding_mlp": Entry(
        _embedding_mlp, ("t:int[3]=0..6",), "tensor", "Embedding, Flatten, Linear, GELU"
    ),
}

# Stock layers nnc refuses, and the op it names: README lists them as unsupported.
UNSUPPORTED: dict[str, tuple[Callable[[], nn.Module], tuple[str, ...], str]] = {
    "MaxPool2d(return_indices=True), MaxUnpool2d": (
        lambda: Lambda(
            lambda inner, x: F.max_unpool2d(*inner(x), 2), nn.MaxPool2d(2, return_indices=True)
        ),
        ("x:float[1,4,4]=-1..1",),
        "max-pool indices",
    ),
    "sorting: torch.sort, topk, median, cummax": (
        lambda: Lambda(lambda x: torch.topk(x, 2).values),
        ("x:float[5]=-1..1",),
        "aten.topk",
    ),
    "EmbeddingBag": (
        lambda: nn.EmbeddingBag(5, 3),
        ("t:int[3]=0..4",),
        "aten._embedding_bag",
    ),
    "grid_sample": (
        lambda: Lambda(lambda x: F.grid_sample(x, x[:, :2].permute(0, 2, 3, 1))),
        ("x:float[2,3,3]=-1..1",),
        "aten.grid_sampler_2d",
    ),
    "Fold (accumulating index_put)": (
        lambda: nn.Fold((3, 3), 2),
        ("x:float[4,4]=-1..1",),
        "accumulate=True",
    ),
    "round, atan, asin, acos, atan2, tan, sinh, cosh (no core op yet)": (
        lambda: Lambda(lambda x: torch.round(x) + torch.atan(x)),
        ("x:float[3]=-1..1",),
        "aten.round",
    ),
    "boolean-mask indexing, nonzero (shapes that depend on values)": (
        lambda: Lambda(lambda x: torch.where(x[0] > 0)[0].float()),
        ("x:float[3]=-1..1",),
        "depends on the input's values",
    ),
}


def coverage_table() -> str:
    """README's supported-layer table: every zoo model, what it covers, which test run compiles
    it; then what is refused."""
    lines = [
        "| Family | Model (`tests/zoo.py`) | Layers and options | Compiled by |",
        "|---|---|---|---|",
    ]
    for name, entry in sorted(ZOO.items(), key=lambda item: (item[1].family, item[0])):
        run = "`pytest -m slow`" if entry.slow else "`pytest`"
        covers = entry.covers.replace("|", "\\|")
        lines.append(f"| {entry.family} | `{name}` | {covers} | {run} |")
    lines += [
        "",
        "Refused, with the op, the module path and the source line of every use:",
        "",
        *[f"- {name}" for name in UNSUPPORTED],
    ]
    return "\n".join(lines)
