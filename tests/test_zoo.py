"""The zoo of stock architectures (tests/zoo.py): each compiles in exact mode and matches torch
through the JIT, the shared library and the interpreter; auto mode gives a result or a stated
reason, never an internal error; README's supported-layer table is the zoo's."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_RTOL, assert_matches_model, domain_points, network_output
from nnc.interpret import interpret
from zoo import UNSUPPORTED, ZOO, build, coverage_table

README = Path(__file__).resolve().parents[1] / "README.md"
TABLE = re.compile(r"<!-- zoo-table -->\n(.*?)\n?<!-- /zoo-table -->", re.DOTALL)
VERIFY_SAMPLES = 256  # verification points per zoo compile (the default 4096 only costs time)
# The shared library is the JIT's code linked; in the default run a few models stand for all
# (tests/test_ops.py checks every op's .so), the slow run checks every one.
LIBRARY_CHECKED = {
    "conv2d",
    "small_cnn",
    "pooling",
    "lstm_state",
    "fused_qkv",
    "integer_arithmetic",
}
# Deep networks (ResNet-18: ~20 layers of 3×3 convolutions) accumulate float32 rounding.
DEEP_RTOL = 1e-4


# Exact compiles the default run leaves to the slow run: each repeats what another model of the
# default run covers (attention: fused_qkv and sdpa_masked; recurrence: lstm_state; convolution:
# conv2d, small_cnn, lenet5)
EXACT_SLOW_RUN_ONLY = {
    "activations",
    "conv3d",
    "gru",
    "multihead_attention",
    "resampling",
    "tensor_ops",
}


def _slow(name: str) -> bool:
    return ZOO[name].slow or name in EXACT_SLOW_RUN_ONLY


def _marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if _slow(n) else n for n in names]


@pytest.mark.parametrize("name", _marked(sorted(ZOO)))
def test_exact_compile_matches_torch(name: str, tmp_path: Path) -> None:
    entry, model = ZOO[name], build(name)
    specs = list(entry.specs)
    samples = 8 if name == "resnet18" else VERIFY_SAMPLES
    artifact = nnc.compile(model, specs, mode="exact", samples=samples)
    fidelity = artifact.report.fidelity
    rtol = DEEP_RTOL if name == "resnet18" else FLOAT32_RTOL
    assert fidelity.passed and fidelity.max_rel <= rtol, fidelity.summary()
    n = 2 if name == "resnet18" else 64
    assert_matches_model(artifact, model, specs, n=n, rtol=rtol)
    if _slow(name) or name in LIBRARY_CHECKED:
        library = nnc.load(artifact.save(tmp_path / f"{name}.so"))
        assert_matches_model(library, model, specs, n=n, rtol=rtol)
    point = [torch.from_numpy(p[:1]) for p in domain_points(specs, 1)]
    (value,) = interpret(artifact.graph, point)
    expected = network_output(model, *[p.numpy() for p in point])
    np.testing.assert_allclose(value.double().numpy(), expected, rtol=rtol, atol=rtol)


AUTO_DEFAULT_RUN = {"integer_arithmetic", "one_hot_mlp", "conv1d"}


@pytest.mark.parametrize(
    "name",
    [
        n if n in AUTO_DEFAULT_RUN else pytest.param(n, marks=pytest.mark.slow)
        for n in sorted(ZOO)
        if n != "resnet18"
    ],
)
def test_auto_mode_compiles_what_exact_mode_compiles(name: str) -> None:
    """The default pipeline (prune, lower, synth, sr, ...) on every zoo model gives a verified
    artifact: closed forms where they pass the gate, the faithful network elsewhere."""
    entry, model = ZOO[name], build(name)
    artifact = nnc.compile(
        model, list(entry.specs), samples=VERIFY_SAMPLES, sr_seconds=1, synth_seconds=2
    )
    assert artifact.report.fidelity.passed
    assert_matches_model(artifact, model, list(entry.specs), n=32, rtol=_auto_tolerance(artifact))


def _auto_tolerance(artifact: nnc.Artifact) -> float:
    """Exact when every pass was exact; a closed form that passed the gate, within it."""
    approximate = any(r.approximate for r in artifact.report.passes)
    return artifact.options.gate_max if approximate else FLOAT32_RTOL


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_layers_are_refused_by_name(name: str) -> None:
    factory, specs, what = UNSUPPORTED[name]
    with pytest.raises(nnc.UnsupportedOpError, match=re.escape(what)):
        nnc.compile(factory(), list(specs), mode="exact")


def test_readme_table_is_the_zoo() -> None:
    """README's supported-layer table is generated from tests/zoo.py; NNC_UPDATE_GOLDEN=1
    rewrites it."""
    text = README.read_text()
    match = TABLE.search(text)
    assert match, "README.md lacks the <!-- zoo-table --> ... <!-- /zoo-table --> block"
    if os.environ.get("NNC_UPDATE_GOLDEN"):
        block = f"<!-- zoo-table -->\n{coverage_table()}\n<!-- /zoo-table -->"
        README.write_text(TABLE.sub(lambda m: block, text))
        return
    assert match[1] == coverage_table(), (
        "README's table differs from tests/zoo.py: rerun with NNC_UPDATE_GOLDEN=1 and review "
        "the diff"
    )
