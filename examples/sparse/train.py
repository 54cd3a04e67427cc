"""Train a ReLU MLP with an L1 penalty on y = max(x0 − x1, 0) + x2/2 and save it as model.pt2.

    python examples/sparse/train.py        # about 30 s on 2 cores

The penalty drives most weights to zero, so pruning (dead units, then units within the error
budget) leaves a handful, and the exact closed form of what is left is small enough for `lower`:
the law comes out without symbolic regression.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import torch
from torch import nn

SPEC = "x:float[3]=-1..1"
STEPS = 4000
L1 = 1e-3
HERE = Path(__file__).resolve().parent


def law(x: torch.Tensor) -> torch.Tensor:
    return (torch.relu(x[:, 0] - x[:, 1]) + x[:, 2] / 2)[:, None]


def main() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(1, STEPS + 1):
        x = torch.rand(1024, 3) * 2 - 1
        penalty = sum(p.abs().sum() for name, p in model.named_parameters() if "weight" in name)
        loss = nn.functional.mse_loss(model(x), law(x)) + L1 * penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 200 == 0 or step == STEPS:
            sys.stderr.write(f"\rtraining: step {step}/{STEPS}, loss {loss.item():.2e}")
    sys.stderr.write("\n")
    nnc.save_model(model, HERE / "model.pt2", inputs=[SPEC])
    print(f"wrote {HERE / 'model.pt2'}")


if __name__ == "__main__":
    main()
