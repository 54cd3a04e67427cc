"""The Feynman equations (Udrescu & Tegmark 2020) with at most four variables, and the networks
trained on them for benchmarks/recovery.py.

    python benchmarks/feynman.py              # train every network missing from feynman/ (hours)
    python benchmarks/feynman.py I.12.1 I.6.2 # only these (retrains them)

`data/FeynmanEquations.csv` is the table of the AI Feynman database as published at
https://space.mit.edu/home/tegmark/aifeynman.html (FeynmanEquations.csv, 100 equations; copied
from a public mirror of it, unchanged). Every equation whose variable list has at most four
names is used (79: the `# variables` column of II.37.1 says 6, its list has 3), at the ranges
the table states. Each network is the kind of model a user trains: a 64-64 tanh MLP, Adam with a
cosine schedule on fresh uniform samples of the domain, inputs and output standardised during
training and the scalings folded into the first and last layers afterwards, so the saved model
computes the law's value itself. Seeds are fixed (torch seed 0, sample seeds per step): the
same command writes the same weights on the same torch build.
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "FeynmanEquations.csv"
NETWORKS = HERE / "data" / "feynman"
MAX_VARIABLES = 4
STEPS = 6000
BATCH = 1024
WIDTH = 64


@dataclass(frozen=True)
class Equation:
    """One row of the table: its id, formula, and variables with their ranges."""

    name: str
    formula: str
    variables: tuple[tuple[str, float, float], ...]

    @property
    def spec(self) -> str:
        """The nnc input spec: one float vector whose elements carry the variables' names."""
        ranges = ", ".join(f"{v}:{lo:g}..{hi:g}" for v, lo, hi in self.variables)
        return f"x:float[{len(self.variables)}]=[{ranges}]"

    @property
    def symbols(self) -> list[sympy.Symbol]:
        return [sympy.Symbol(v) for v, _, _ in self.variables]

    @property
    def truth(self) -> sympy.Expr:
        """The formula over the variables' symbols (names such as gamma stay symbols)."""
        names = {s.name: s for s in self.symbols}
        return sympy.sympify(self.formula, locals={**names, "arcsin": sympy.asin, "ln": sympy.log})

    def law(self, columns: np.ndarray) -> np.ndarray:
        """The formula on an (n, variables) array, in float64."""
        function = sympy.lambdify(self.symbols, self.truth, "numpy")
        return np.broadcast_to(function(*columns.T), (len(columns),)).astype(np.float64)

    @property
    def path(self) -> Path:
        return NETWORKS / f"{self.name}.pt2"


def equations() -> list[Equation]:
    """Every equation of the table with at most MAX_VARIABLES variables, in table order."""
    out = []
    with TABLE.open() as handle:
        for row in csv.DictReader(handle):
            variables = tuple(
                (row[f"v{i}_name"], float(row[f"v{i}_low"]), float(row[f"v{i}_high"]))
                for i in range(1, 11)
                if row[f"v{i}_name"]
            )
            if len(variables) <= MAX_VARIABLES:
                out.append(Equation(row["Filename"], row["Formula"], variables))
    return out


def train(equation: Equation, steps: int = STEPS) -> tuple[nn.Module, float]:
    """A tanh MLP fitted to the law on its domain; returns it and its relative RMSE on fresh
    points (error / RMS of the law)."""
    torch.manual_seed(0)
    lo = np.array([v[1] for v in equation.variables])
    hi = np.array([v[2] for v in equation.variables])
    center, half = (hi + lo) / 2, (hi - lo) / 2
    probe = np.random.default_rng(0).uniform(lo, hi, size=(20_000, len(lo)))
    mean, scale = float(equation.law(probe).mean()), float(equation.law(probe).std()) or 1.0
    d = len(equation.variables)
    model = nn.Sequential(
        nn.Linear(d, WIDTH), nn.Tanh(), nn.Linear(WIDTH, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for step in range(steps):
        x = np.random.default_rng(step + 1).uniform(lo, hi, size=(BATCH, d))
        y = (equation.law(x) - mean) / scale
        prediction = model(torch.from_numpy(((x - center) / half).astype(np.float32)))
        loss = nn.functional.mse_loss(prediction[:, 0], torch.from_numpy(y.astype(np.float32)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    _fold_scalings(model, center, half, mean, scale)
    test = np.random.default_rng(10**6).uniform(lo, hi, size=(20_000, d))
    with torch.no_grad():
        got = model(torch.from_numpy(test.astype(np.float32)))[:, 0].double().numpy()
    truth = equation.law(test)
    return model, float(np.sqrt(np.mean((got - truth) ** 2) / np.mean(truth**2)))


def _fold_scalings(
    model: nn.Sequential, center: np.ndarray, half: np.ndarray, mean: float, scale: float
) -> None:
    """Make the model take raw inputs and give the law's value: (x - c)/h into the first layer,
    y·s + m into the last."""
    first, last = model[0], model[-1]
    with torch.no_grad():
        weight = first.weight.double() / torch.from_numpy(half)
        first.bias.copy_(first.bias.double() - weight @ torch.from_numpy(center))
        first.weight.copy_(weight)
        last.weight.mul_(scale)
        last.bias.copy_(last.bias.double() * scale + mean)


def main() -> None:
    import nnc

    torch.set_num_threads(1)
    chosen = set(sys.argv[1:])
    NETWORKS.mkdir(parents=True, exist_ok=True)
    for equation in equations():
        if (chosen and equation.name not in chosen) or (not chosen and equation.path.exists()):
            continue
        start = time.perf_counter()
        model, error = train(equation)
        nnc.save_model(model, equation.path, inputs=[equation.spec])
        print(
            f"{equation.name:<10} rel RMSE {error:.1e}  {time.perf_counter() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
