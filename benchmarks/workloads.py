"""The models benchmarked: what nnc compiles, what torch and ONNX Runtime run, how inputs are drawn,
and the hand-written C each is held to where the model has a closed form."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .analysis import INT32_LOOP, INT64_LOOP

__all__ = [
    "Argmax",
    "ColumnReference",
    "LookupNetwork",
    "Reference",
    "Workload",
    "grokking",
    "grokking_exact",
    "law_mlp",
    "lenet5",
    "lookup_workload",
    "main_workloads",
    "mlp_workload",
    "multiply_adds",
    "small_mlp",
    "uniform",
    "weight_bytes",
    "wide_mlp",
]

ROOT = Path(__file__).resolve().parents[1]
GROKKING = ROOT / "examples" / "grokking"
REFERENCE = Path(__file__).resolve().with_name("reference")
P = 113
SEED = 0
QUICK_BATCH = 8192


@dataclass(frozen=True)
class Reference:
    """Hand-written C of the closed form, exporting the nnc C ABI under its own prefix."""

    source: Path
    prefix: str


@dataclass(frozen=True)
class ColumnReference:
    """Hand-written C column loops a typed NAME_batch_i32 entry is held to (issue 7), the input
    columns they all read and the closed form they must all write."""

    source: Path
    loops: tuple[tuple[str, str, str], ...]  # (runtime label, C symbol, column type "i32"/"i64")
    columns: Callable[[int], list[np.ndarray]]  # n → one int64 array per scalar argument
    expected: Callable[..., np.ndarray]  # the closed form on those columns


@dataclass
class Workload:
    """One model to benchmark, in every form the runtimes need."""

    name: str
    prefix: str  # symbol prefix of the saved library (mlp → mlp.so, mlp_eval_batch)
    model: nn.Module  # what torch eager, torch.compile and ONNX run, output head included
    source: Any  # what nnc.compile gets: the model itself or a .pt2 path
    inputs: list[str] | None  # spec strings; None when the .pt2 carries its own
    options: dict[str, Any]  # nnc.compile options (mode, output)
    sample: Callable[[int], np.ndarray]  # n → (n, *shape) points of the domain
    integer: bool  # int64 inputs; otherwise torch and ONNX Runtime get float32
    reference: Reference | None = None
    columns: ColumnReference | None = None  # times the NAME_batch_i32 entry too, when present
    batch: int | None = None  # batch size when this workload needs another than the run's
    notes: list[str] = field(default_factory=list)


class Argmax(nn.Module):
    """The network followed by the decision nnc's artifact returns: every runtime does the same."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x).argmax(-1)


class LookupNetwork(nn.Module):
    """Logits read from a table over the integer pair (a, b): its argmax is (a + b) mod classes.
    The domain grows with the table, so it measures how compile time scales with enumeration."""

    def __init__(self, side: int, classes: int) -> None:
        super().__init__()
        self.side = side
        a = torch.arange(side).repeat_interleave(side)
        b = torch.arange(side).repeat(side)
        logits = torch.full((side * side, classes), -1.0)
        logits[torch.arange(side * side), (a + b) % classes] = 1.0
        self.table = nn.Embedding.from_pretrained(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table(x[:, 0] * self.side + x[:, 1])


def main_workloads(quick: bool) -> list[Callable[[], Workload]]:
    """The workloads of issues 6 and 12, as builders (building one trains or loads a model). The
    law MLP runs twice: in mode exact as the issues ask, and in mode auto, where the sr pass may
    find it; the grokking transformer too: auto finds (a + b) mod 113, exact keeps the network."""
    return [
        lambda: _sized(grokking(), quick),
        lambda: _sized(grokking_exact(), quick),
        lambda: law_mlp("exact"),
        lambda: law_mlp("auto"),
        small_mlp,
        lambda: _sized(wide_mlp(), quick),
        lambda: _sized(lenet5(), quick),
    ]


def _sized(workload: Workload, quick: bool) -> Workload:
    """A smaller batch in --quick for the workloads where one batch call of torch or nnc takes
    seconds (ns/sample hardly depends on the batch size there); the table says so."""
    if quick:
        workload.batch = QUICK_BATCH
        workload.notes.append(f"batch {QUICK_BATCH:,} in --quick (the run's batch otherwise)")
    return workload


def grokking() -> Workload:
    """The grokking transformer: nnc finds (a + b) mod 113 in mode auto."""
    spec = f"tokens:int[3]=[a:0..{P - 1}, b:0..{P - 1}, {P}]"
    torch.manual_seed(SEED)  # the weights of the fallback; a checkpoint overwrites them
    network = _grokking_class()()
    checkpoint = GROKKING / "modadd.pt2"
    notes: list[str] = []
    if checkpoint.is_file():
        program = torch.export.load(checkpoint)
        network.load_state_dict({**program.state_dict, **program.constants})
        source, inputs, options = checkpoint, None, {}
    else:
        notes.append(
            f"{checkpoint.relative_to(ROOT)} is missing: random weights, compiled in mode "
            "exact (a closed form needs the trained network)"
        )
        source, inputs, options = network, [spec], {"mode": "exact", "output": "argmax"}
    model = Argmax(network).eval()

    def sample(n: int) -> np.ndarray:
        ab = np.random.default_rng(SEED).integers(0, P, size=(n, 2))
        return np.column_stack([ab, np.full(n, P)]).astype(np.int64)

    columns = ColumnReference(
        REFERENCE / "modadd_columns.c",
        ((INT64_LOOP, "ref_modadd_mod_i64", "i64"), (INT32_LOOP, "ref_modadd_cmpsub_i32", "i32")),
        lambda n: list(sample(n)[:, :2].T),
        lambda a, b: (a + b) % P,
    )
    return Workload(
        "grokking",
        "modadd",
        model,
        source,
        inputs,
        options,
        sample,
        True,
        Reference(REFERENCE / "modadd.c", "ref_modadd"),
        columns,
        notes=notes,
    )


def grokking_exact() -> Workload:
    """The grokking transformer in mode exact: the network itself, batched (issue 12)."""
    workload = grokking()
    spec = f"tokens:int[3]=[a:0..{P - 1}, b:0..{P - 1}, {P}]"
    inputs = None if isinstance(workload.source, Path) else [spec]
    return dataclasses.replace(
        workload,
        name="grokking exact",
        prefix="modadd_exact",
        inputs=inputs,
        options={**workload.options, "mode": "exact"},
        reference=None,
        columns=None,
    )


def lenet5() -> Workload:
    """LeNet-5 on 1×28×28 (Conv2d + ReLU + max pooling twice, then 400→120→84→10; random
    weights), mode exact."""
    torch.manual_seed(SEED)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    ).eval()
    return Workload(
        "LeNet-5",
        "lenet",
        model,
        model,
        ["x:float[1,28,28]=0..1"],
        {"mode": "exact"},
        lambda n: np.random.default_rng(SEED).uniform(0.0, 1.0, size=(n, 1, 28, 28)),
        False,
    )


def law_mlp(mode: str) -> Workload:
    """The law MLP compiled in `mode`: "exact" (the faithful network) or "auto" (symbolic
    regression may find the law); both are held to hand-written C of the law."""
    model, note = _law_network()
    return Workload(
        f"law MLP {mode}",
        f"law_{mode}",
        model,
        model,
        ["x:float[3]=1..3"],
        {"mode": mode},
        uniform(3, 1.0, 3.0),
        False,
        Reference(REFERENCE / "law.c", "ref_law"),
        notes=[note],
    )


@functools.lru_cache(maxsize=1)
def _law_network(steps: int = 2000) -> tuple[nn.Sequential, str]:
    """MLP 3→128→128→1 tanh fitted to x0*x1/x2^2 on [1, 3]^3 (a few seconds), trained once."""
    torch.manual_seed(SEED)
    model = mlp([3, 128, 128, 1], nn.Tanh)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for _ in range(steps):
        x = torch.rand(512, 3, generator=generator) * 2 + 1
        loss = ((model(x)[:, 0] - x[:, 0] * x[:, 1] / x[:, 2] ** 2) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), (
        f"trained {steps} Adam steps in {time.perf_counter() - start:.1f} s, "
        f"last batch RMSE {loss.item() ** 0.5:.3g} (the law spans 0.11..9)"
    )


def small_mlp() -> Workload:
    """MLP 8→32→32→4 ReLU (random weights: timing does not depend on them), mode exact."""
    return mlp_workload("small MLP", "mlp", [8, 32, 32, 4], nn.ReLU, "x:float[8]=-1..1")


def wide_mlp() -> Workload:
    """MLP 784→256→256→10 ReLU, mode exact: the faithful backend against ORT's GEMMs."""
    return mlp_workload(
        "784-256-256-10", "mnist", [784, 256, 256, 10], nn.ReLU, "x:float[784]=0..1"
    )


def mlp_workload(
    name: str, prefix: str, sizes: Sequence[int], activation: type[nn.Module], spec: str
) -> Workload:
    """A randomly initialised MLP compiled in mode exact (also the scaling sweep's models)."""
    torch.manual_seed(SEED)
    model = mlp(sizes, activation).eval()
    low, high = (float(v) for v in spec.split("=", 1)[1].split(".."))
    return Workload(
        name, prefix, model, model, [spec], {"mode": "exact"}, uniform(sizes[0], low, high), False
    )


def lookup_workload(side: int, classes: int = 7) -> Workload:
    """A LookupNetwork over side² points, mode auto: nnc enumerates the domain to find the rule."""
    model = LookupNetwork(side, classes).eval()
    spec = f"x:int[2]=[a:0..{side - 1}, b:0..{side - 1}]"

    def sample(n: int) -> np.ndarray:
        return np.random.default_rng(SEED).integers(0, side, size=(n, 2)).astype(np.int64)

    return Workload(
        f"lookup {side}²",
        f"lookup{side}",
        Argmax(model).eval(),
        model,
        [spec],
        {"output": "argmax"},
        sample,
        True,
    )


def mlp(sizes: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (width_in, width_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(width_in, width_out))
        if k < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def multiply_adds(model: nn.Module, sample: torch.Tensor) -> int:
    """Multiply-adds of one sample through `model` (matmuls and convolutions, as torch counts
    them: flops / 2)."""
    with FlopCounterMode(display=False) as counter:  # (with autograd on: its module hooks need it)
        model(sample[:1])
    return counter.get_total_flops() // 2


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers in float32: what one sample streams from
    cache when it reads every weight once."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(4 * t.numel() for t in tensors if t.is_floating_point())


def uniform(width: int, low: float, high: float) -> Callable[[int], np.ndarray]:
    """n → (n, width) float64 points drawn uniformly from [low, high] (the same at every call)."""
    return lambda n: np.random.default_rng(SEED).uniform(low, high, size=(n, width))


def _grokking_class() -> type[nn.Module]:
    """GrokkingTransformer from examples/grokking/transformer.py (an example, not part of the package);
    registered in sys.modules because torch.compile re-imports the module of the code it traces."""
    if "grokking_model" not in sys.modules:
        spec = importlib.util.spec_from_file_location("grokking_model", GROKKING / "transformer.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["grokking_model"] = module
        spec.loader.exec_module(module)
    module = sys.modules["grokking_model"]
    return module.GrokkingTransformer
