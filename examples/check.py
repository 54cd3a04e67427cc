"""Checks of the examples themselves, not of nnc: the shipped checkpoints (the examples', the
Feynman benchmark's networks, the test fixtures) are small and carry no paths of the machine
that trained them, the grokking network really computes (a + b) mod 113, and
its model class keeps TransformerLens' parameter names. CI runs this (`python examples/check.py`).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SHIPPED = (HERE, HERE.parent / "benchmarks" / "data", HERE.parent / "tests" / "fixtures")
MAX_CHECKPOINT_BYTES = 4 << 20
BUILD_PATHS = (b"/home/", b"/root/", b"/work/", b"/tmp/", b"/Users/", b"C:\\", b"site-packages")


def checkpoints_are_small_and_clean() -> None:
    checkpoints = sorted(c for folder in SHIPPED for c in folder.glob("**/*.pt*"))
    assert checkpoints, "no shipped checkpoint found"
    for checkpoint in checkpoints:
        assert checkpoint.stat().st_size < MAX_CHECKPOINT_BYTES, f"{checkpoint} is too large"
        with zipfile.ZipFile(checkpoint) as archive:
            for name in archive.namelist():
                data = archive.read(name)
                for marker in BUILD_PATHS:
                    assert marker not in data, f"{checkpoint.name}:{name} contains {marker!r}"


def grokking_network_computes_modular_addition() -> None:
    network = torch.export.load(str(HERE / "grokking" / "modadd.pt2")).module()
    x, y = np.meshgrid(np.arange(113), np.arange(113), indexing="ij")
    tokens = torch.tensor(np.stack([x.ravel(), y.ravel(), np.full(x.size, 113)], axis=1))
    with torch.no_grad():
        predictions = network(tokens).argmax(-1).numpy()
    assert (predictions == (x.ravel() + y.ravel()) % 113).all(), "the checkpoint did not grok"


def transformer_keeps_transformer_lens_names() -> None:
    sys.path.insert(0, str(HERE / "grokking"))
    from transformer import GrokkingTransformer

    model = GrokkingTransformer()
    names = set(model.state_dict())
    for name in [
        "embed.W_E",
        "pos_embed.W_pos",
        "blocks.0.attn.W_Q",
        "blocks.0.attn.W_O",
        "blocks.0.attn.b_Q",
        "blocks.0.mlp.W_in",
        "blocks.0.mlp.b_out",
        "unembed.W_U",
    ]:
        assert name in names, f"{name} is missing"
    assert model.embed.W_E.shape == (114, 128)
    assert model.blocks[0].attn.W_Q.shape == (4, 128, 32)
    assert model.blocks[0].mlp.W_in.shape == (128, 512)


CHECKS = [
    checkpoints_are_small_and_clean,
    grokking_network_computes_modular_addition,
    transformer_keeps_transformer_lens_names,
]

if __name__ == "__main__":
    for check in CHECKS:
        check()
        print(f"ok  {check.__name__.replace('_', ' ')}")
