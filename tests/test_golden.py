"""Golden text of printed Graphs: three small models after the front end and after each pass of
fold → prune → lower that changed them — exactly what debug level 2 logs.

A golden file changes only with a change you meant: rerun
`NNC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and review the diff of tests/golden/
before committing it. Each graph is also checked against the model it came from, so a regenerated
file cannot bless a wrong graph.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from helpers import FLOAT32_ATOL, FLOAT32_RTOL, assert_golden, domain_points, pass_context
from nnc.api import with_output_head
from nnc.frontend import to_graph, trace
from nnc.graph import Graph
from nnc.interpret import interpret
from nnc.options import parse_output
from nnc.pipeline import dump_graph, run_pipeline
from nnc.spec_grammar import parse_inputs
from torch import nn


class ModAddToy(nn.Module):
    """Modular addition as people first try it: two token embeddings into an MLP, P classes."""

    def __init__(self, p: int = 5, width: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, width)
        self.mlp = nn.Sequential(nn.Linear(2 * width, 8), nn.ReLU(), nn.Linear(8, p))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(tokens).flatten(1))


class Shuffle(nn.Module):
    """Data movement before a layer: a reshape, a permute and a flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(-1, 2, 3).permute(0, 2, 1).reshape(-1, 6))


# name → (model builder, input spec, output semantics)
MODELS: dict[str, tuple[Callable[[], nn.Module], str, str]] = {
    "mlp": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
        "x:float[3]=-1..1",
        "raw",
    ),
    "modadd_toy": (ModAddToy, "tokens:int[2]=[a:0..4, b:0..4]", "argmax"),
    "reshape_permute": (Shuffle, "x:float[6]=0..1", "raw"),
}


def _front_end(name: str) -> tuple[nn.Module, Graph]:
    build, spec, output = MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    specs = parse_inputs([spec])
    return model, with_output_head(to_graph(trace(model, specs), specs), parse_output(output))


def _expected(model: nn.Module, output: str, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        values = model(x)
    return values.argmax(-1) if output == "argmax" else values


@pytest.mark.parametrize("name", sorted(MODELS))
def test_printed_graphs_after_front_end_and_each_pass(name: str) -> None:
    model, graph = _front_end(name)
    _, spec, output = MODELS[name]
    specs = parse_inputs([spec])
    lines: list[str] = []
    ctx = pass_context(specs, mode="exact", output=output, debug=2)
    final, _ = run_pipeline(graph, ["fold", "prune", "lower"], ctx.setting, log=lines.append)
    dumps = [line for line in lines if line.startswith("--- graph after")]
    assert_golden(f"graph_{name}.txt", "\n\n".join([dump_graph(graph, "front end"), *dumps]))
    (points,) = domain_points([spec], n=8)
    for row in points:
        x = torch.from_numpy(row)[None]
        for printed in (graph, final):
            torch.testing.assert_close(
                interpret(printed, [x])[0].double(),
                _expected(model, output, x).double(),
                rtol=FLOAT32_RTOL,
                atol=FLOAT32_ATOL,
            )
