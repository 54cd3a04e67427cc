"""A small message-passing network for N bodies in 2-D: an edge model computes the force of each
body on each other from their separation; forces are summed per body (Cranmer et al. 2020)."""

from __future__ import annotations

import torch
from torch import nn

BODIES = 4


class EdgeModel(nn.Module):
    """Separation (dx, dy) of body j from body i → force of j on i (fx, fy)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 2)
        )

    def forward(self, separation: torch.Tensor) -> torch.Tensor:
        return self.net(separation)


class NBody(nn.Module):
    """Positions (batch, N, 2) → net force on every body, flattened (batch, 2N).

    The graph is complete: one edge per ordered pair (i, j), i ≠ j, carrying the separation
    p_j − p_i to the edge model; each body sums the messages of its incoming edges.
    """

    def __init__(self, bodies: int = BODIES) -> None:
        super().__init__()
        self.edge_model = EdgeModel()
        pairs = [(i, j) for i in range(bodies) for j in range(bodies) if i != j]
        self.register_buffer("receivers", torch.tensor([i for i, _ in pairs]))
        self.register_buffer("senders", torch.tensor([j for _, j in pairs]))
        incidence = torch.zeros(bodies, len(pairs))
        incidence[self.receivers, torch.arange(len(pairs))] = 1.0
        self.register_buffer("incidence", incidence)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        separation = positions[:, self.senders] - positions[:, self.receivers]  # (batch, E, 2)
        messages = self.edge_model(separation)
        return (self.incidence @ messages).flatten(1)


def spring_force(separation: torch.Tensor) -> torch.Tensor:
    """The law the network is trained on: a stiffening spring, f = d·|d|² (potential |d|⁴/4)."""
    return separation * (separation**2).sum(-1, keepdim=True)
