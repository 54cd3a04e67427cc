"""Train a small MLP on Newton's law of gravitation F = x0*x1/x2**2 and save it as model.pt2.

    python examples/physics/train.py          # ~1 min on 2 cores; writes examples/physics/model.pt2

The saved file carries its input spec, so `nnc examples/physics/model.pt2 -o build/algo.so` needs no flags.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import torch
from torch import nn

SPEC = "x:float[3]=[x0:1..3, x1:1..3, x2:1..3]"
STEPS = 8000


def law(x: torch.Tensor) -> torch.Tensor:
    return (x[:, 0] * x[:, 1] / x[:, 2] ** 2)[:, None]


MODEL = Path(__file__).with_name("model.pt2")


def main(out: Path = MODEL) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    for step in range(1, STEPS + 1):
        x = torch.rand(2048, 3) * 2 + 1
        loss = nn.functional.mse_loss(model(x), law(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == STEPS:
            sys.stderr.write(f"\rtraining: step {step}/{STEPS}, mse {loss.item():.2e}")
    sys.stderr.write("\n")
    nnc.save_model(model, out, inputs=[SPEC])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
