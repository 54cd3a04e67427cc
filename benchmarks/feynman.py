"""The Feynman equations (Udrescu & Tegmark 2020) with at most four variables, and the networks
trained on them for benchmarks/recovery.py.

    python benchmarks/feynman.py              # train every network missing from feynman/
    python benchmarks/feynman.py --all        # retrain all 79 (17 min on 2 cores)
    python benchmarks/feynman.py I.12.1 I.6.2 # only these (retrains them)
    python benchmarks/feynman.py --errors     # each network's distance from its law

`data/FeynmanEquations.csv` is the table of the AI Feynman database as published at
https://space.mit.edu/home/tegmark/aifeynman.html (FeynmanEquations.csv, 100 equations; copied
from a public mirror of it, unchanged). Every equation whose variable list has at most four
names is used (79: the `# variables` column of II.37.1 says 6, its list has 3), at the ranges
the table states. Each network is the kind of model a user trains: a 64-64 tanh MLP, Adam with a
cosine schedule on fresh samples of the domain, inputs and output standardised during training
and the scalings folded into the first and last layers afterwards, so the saved model computes
the law's value itself. Half of each batch is uniform, half drawn from the arcsine (Chebyshev)
density, which puts more points near the box's faces: trained on uniform points alone (6,000
steps), 35 of the 79 networks were more than 5 % of the law's largest value off it somewhere
(up to 61 %, mostly at the box's corners; `--errors`), and nnc, which holds a formula to the
network everywhere, rightly refused the law there. Seeds are fixed (torch seed 0, sample seeds
per step): the same command writes the same weights on the same torch build.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import time
from concurrent.futures import ProcessPoolExecutor
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
STEPS = 12000
EDGE_SHARE = 0.5  # of each batch drawn from the arcsine density
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
        x = lo + (hi - lo) * _unit_samples(np.random.default_rng(step + 1), d)
        y = (equation.law(x) - mean) / scale
        prediction = model(torch.from_numpy(((x - center) / half).astype(np.float32)))
        loss = nn.functional.mse_loss(prediction[:, 0], torch.from_numpy(y.astype(np.float32)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    _fold_scalings(model, center, half, mean, scale)
    return model, network_error(model, equation)[0]


def _unit_samples(rng: np.random.Generator, d: int) -> np.ndarray:
    """A batch in the unit box: uniform, and EDGE_SHARE of it from the arcsine density (the
    Chebyshev nodes' density, which minimax approximation needs near the ends)."""
    unit = rng.uniform(0, 1, size=(BATCH, d))
    edge = int(EDGE_SHARE * BATCH)
    unit[:edge] = (1 - np.cos(np.pi * unit[:edge])) / 2
    return unit


def network_error(model: nn.Module, equation: Equation) -> tuple[float, float]:
    """How far a network is from its law: relative RMSE on 20,000 fresh uniform points, and the
    max error over those points and the box's corners, of the law's largest magnitude (what
    nnc's gate measures against the network; a law cannot pass where the network is off)."""
    lo = np.array([v[1] for v in equation.variables])
    hi = np.array([v[2] for v in equation.variables])
    sampled = np.random.default_rng(10**6).uniform(lo, hi, size=(20_000, len(lo)))
    corners = np.array(list(itertools.product(*zip(lo, hi))), dtype=np.float64)
    points = np.concatenate([sampled, corners])
    with torch.no_grad():
        got = model(torch.from_numpy(points.astype(np.float32)))[:, 0].double().numpy()
    truth = equation.law(points)
    error = got - truth
    rmse = float(np.sqrt(np.mean(error[: len(sampled)] ** 2) / np.mean(truth[: len(sampled)] ** 2)))
    return rmse, float(np.abs(error).max() / np.abs(truth).max())


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="equations to (re)train (default: the missing)")
    parser.add_argument("--all", action="store_true", help="retrain every network")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    parser.add_argument(
        "--errors", action="store_true", help="print each shipped network's distance from its law"
    )
    args = parser.parse_args()
    if args.errors:
        print_errors()
        return
    chosen = set(args.names)
    NETWORKS.mkdir(parents=True, exist_ok=True)
    todo = [
        e for e in equations() if (e.name in chosen if chosen else args.all or not e.path.exists())
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        for line in pool.map(_train_and_save, todo):
            print(line, flush=True)


def print_errors() -> None:
    """Each shipped network's relative RMSE and max error against its law, then how the max
    errors spread over the 79 (median, how many exceed the gate's 5 %, the largest)."""
    from nnc.modelfile import load_model

    rows = []
    for equation in equations():
        module = load_model(equation.path, False).module
        rows.append((equation.name, *network_error(module, equation)))
    for name, rmse, worst in rows:
        print(f"{name:<10} rel RMSE {rmse:.1e}  max error {worst:.1%} (corners included)")
    worst = sorted(r[2] for r in rows)
    print(
        f"max error: median {worst[len(worst) // 2]:.1%}, above 5 % (the gate's max): "
        f"{sum(w > 0.05 for w in worst)} of {len(worst)} networks, largest {worst[-1]:.1%}"
    )


def _train_and_save(equation: Equation) -> str:
    """Train one network (one torch thread: the processes are the parallelism) and save it."""
    import nnc

    torch.set_num_threads(1)
    start = time.perf_counter()
    model, error = train(equation)
    nnc.save_model(model, equation.path, inputs=[equation.spec])
    return f"{equation.name:<10} rel RMSE {error:.1e}  {time.perf_counter() - start:.0f} s"


if __name__ == "__main__":
    main()
