"""Train the message-passing network on forces of stiffening springs and save it as model.pt2.

python examples/nbody/train.py       # a few minutes on 2 cores
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import torch
from graph_network import BODIES, NBody, spring_force

SPEC = f"x:float[{BODIES},2]=-0.5..0.5"
STEPS = 6000
HERE = Path(__file__).resolve().parent


def targets(positions: torch.Tensor) -> torch.Tensor:
    """The true net forces: the spring law summed over the other bodies."""
    separation = positions[:, None, :, :] - positions[:, :, None, :]  # [b, i, j] = p_j - p_i
    return spring_force(separation).sum(dim=2).flatten(1)


def main() -> None:
    torch.manual_seed(0)
    model = NBody()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    for step in range(1, STEPS + 1):
        positions = torch.rand(1024, BODIES, 2) - 0.5
        loss = torch.nn.functional.mse_loss(model(positions), targets(positions))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == STEPS:
            sys.stderr.write(f"\rtraining: step {step}/{STEPS}, mse {loss.item():.2e}")
    sys.stderr.write("\n")
    nnc.save_model(model, HERE / "model.pt2", inputs=[SPEC])
    print(f"wrote {HERE / 'model.pt2'}")


if __name__ == "__main__":
    main()
