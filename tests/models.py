"""Models more than one test file builds."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import nn


class LookupNetwork(nn.Module):
    """A network whose logits are a table over the integer inputs: its argmax is `function`."""

    def __init__(self, function: Callable[..., int], sizes: list[int], classes: int) -> None:
        super().__init__()
        self.sizes = sizes
        rows = [function(*point) for point in itertools.product(*[range(s) for s in sizes])]
        logits = torch.full((len(rows), classes), -1.0)
        logits[torch.arange(len(rows)), torch.tensor(rows)] = 1.0
        self.table = nn.Embedding.from_pretrained(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = x[:, 0] * 0
        for k, size in enumerate(self.sizes):
            index = index * size + x[:, k]
        return self.table(index)


class Scaled(nn.Module):
    """An MLP over integer inputs, as a user writes one: scale, then stock layers."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float() / 23 - 1)


PLANTED_P = P = 17
PLANTED_SPEC = f"tokens:int[2]=[a:0..{P - 1}, b:0..{P - 1}]"
FREQUENCIES = (2, 5)


class Hidden(nn.Module):
    """A ReLU layer written as users write one inside a block: torch.relu of a Linear."""

    def __init__(self, width: int, units: int) -> None:
        super().__init__()
        self.W = nn.Linear(width, units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.W(x))


class PlantedFourier(nn.Module):
    """Token embeddings whose columns are cos/sin at FREQUENCIES plus one column of noise; unit 0
    reads frequency 2 of a and b, unit 1 frequency 5 of a, unit 2 the noise, unit 3 everything."""

    def __init__(self) -> None:
        super().__init__()
        t = torch.arange(P, dtype=torch.float64)
        waves = [f(2 * math.pi * k * t / P) for k in FREQUENCIES for f in (torch.cos, torch.sin)]
        noise = torch.randn(P, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.embed = nn.Embedding.from_pretrained(torch.stack([*waves, noise], 1).float())
        self.mlp = Hidden(10, 4)
        weights = torch.zeros(4, 10)
        weights[0, [0, 1, 5, 6]] = torch.tensor([1.0, 0.5, -0.8, 0.3])  # 2·a, 2·b
        weights[1, [2, 3]] = torch.tensor([1.2, -0.7])  # 5·a
        weights[2, 4] = 1.0  # noise in a
        weights[3] = torch.linspace(-1, 1, 10) * torch.tensor([1.0] * 4 + [0.0] + [1.0] * 4 + [0.0])
        with torch.no_grad():
            self.mlp.W.weight.copy_(weights)
            self.mlp.W.bias.copy_(torch.tensor([0.2, -0.1, 0.0, 0.3]))
        self.out = nn.Linear(4, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp(self.embed(tokens).flatten(1)))


class TwoOutputLinear(nn.Module):
    """y = 2·x0 + x1 on two outputs: a closed form every test can check by hand."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (2 * x[:, :1] + x[:, 1:2]) * torch.ones(1, 2)
