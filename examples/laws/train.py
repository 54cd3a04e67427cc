"""Train a 3→64→64→1-style tanh MLP on each known law and save it as <name>.pt2 beside this file.

python examples/laws/train.py            # all laws, a minute or two each on 2 cores
python examples/laws/train.py gravity    # one law
"""

from __future__ import annotations

import sys
from pathlib import Path

import nnc
import numpy as np
import sympy
import torch
from laws import LAWS
from nnc.domain import Domain
from nnc.spec_grammar import parse_inputs
from torch import nn

STEPS = 4000
HERE = Path(__file__).resolve().parent


def train(name: str) -> None:
    formula, spec_text = LAWS[name]
    (spec,) = parse_inputs([spec_text])
    width = spec.numel
    symbols = sympy.symbols(f"x0:{width}")
    law = sympy.lambdify(symbols, sympy.sympify(formula), "numpy")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(width, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    domain = Domain([spec])
    for step in range(1, STEPS + 1):
        (x,) = domain.points(1, 1024, seed=step)[0]
        y = np.broadcast_to(law(*x.T.astype(np.float64)), (len(x),))
        loss = nn.functional.mse_loss(
            model(torch.from_numpy(x)), torch.from_numpy(y.astype(np.float32))[:, None]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 200 == 0 or step == STEPS:
            sys.stderr.write(f"\r{name}: step {step}/{STEPS}, mse {loss.item():.2e}   ")
    sys.stderr.write("\n")
    nnc.save_model(model, HERE / f"{name}.pt2", inputs=[spec_text])


if __name__ == "__main__":
    for law_name in sys.argv[1:] or LAWS:
        train(law_name)
