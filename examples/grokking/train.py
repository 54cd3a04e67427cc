"""Reproduce the grokking run of Nanda et al. 2023 on modular addition and save the checkpoint.

    python examples/grokking/train.py            # ~15-30 min on 2 CPU cores

p = 113, inputs [a, b, =], one-layer transformer (d_model 128, 4 heads, d_mlp 512, ReLU, no
LayerNorm), 30% of the 12,769 pairs for training, AdamW (lr 1e-3, weight decay 1, betas 0.9/0.98),
full batch, until the test accuracy reaches 99.9% and then every pair is right (or 40k epochs). Writes modadd.pt2 (with its input spec and
`--output argmax` inside) and curves.png (train/test loss and accuracy) beside this file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nnc
import torch
from transformer import GrokkingTransformer

P = 113
SPEC = f"tokens:int[3]=[a:0..{P - 1}, b:0..{P - 1}, {P}]"
TRAIN_FRACTION = 0.3
TARGET_ACCURACY = 0.999
MAX_EPOCHS = 40_000
HERE = Path(__file__).resolve().parent


def dataset(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = torch.meshgrid(torch.arange(P), torch.arange(P), indexing="ij")
    tokens = torch.stack([a.ravel(), b.ravel(), torch.full((P * P,), P)], dim=1)
    labels = (tokens[:, 0] + tokens[:, 1]) % P
    order = torch.randperm(P * P, generator=torch.Generator().manual_seed(seed))
    cut = int(TRAIN_FRACTION * P * P)
    train, test = order[:cut], order[cut:]
    return tokens[train], labels[train], tokens[test], labels[test]


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = GrokkingTransformer(P)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(step / 10, 1))
    train_x, train_y, test_x, test_y = dataset()
    history: list[tuple[int, float, float, float, float]] = []
    start = time.time()
    for epoch in range(1, MAX_EPOCHS + 1):
        logits = model(train_x)
        loss = torch.nn.functional.cross_entropy(logits.double(), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        warmup.step()
        if epoch % 100 == 0:
            with torch.no_grad():
                test_logits = model(test_x)
                test_loss = torch.nn.functional.cross_entropy(test_logits.double(), test_y).item()
                test_acc = (test_logits.argmax(-1) == test_y).float().mean().item()
                train_acc = (logits.argmax(-1) == train_y).float().mean().item()
            history.append((epoch, loss.item(), test_loss, train_acc, test_acc))
            sys.stderr.write(
                f"\repoch {epoch}/{MAX_EPOCHS}  train loss {loss.item():.2e}  "
                f"test loss {test_loss:.2e}  test acc {test_acc:.4f}  "
                f"{time.time() - start:.0f} s"
            )
            sys.stderr.flush()
            if test_acc >= TARGET_ACCURACY and train_acc == 1.0 and test_acc == 1.0:
                break
    sys.stderr.write("\n")
    model.eval()
    nnc.save_model(model, HERE / "modadd.pt2", inputs=[SPEC], output="argmax")
    plot(history, HERE / "curves.png")
    print(
        f"grokked after {history[-1][0]} epochs ({time.time() - start:.0f} s): test accuracy "
        f"{history[-1][4]:.4f}; wrote {HERE / 'modadd.pt2'} and {HERE / 'curves.png'}"
    )


def plot(history: list[tuple[int, float, float, float, float]], path: Path) -> None:
    """Train/test loss (log scale) and accuracy against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs, train_loss, test_loss, train_acc, test_acc = zip(*history)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.semilogy(epochs, train_loss, label="train")
    left.semilogy(epochs, test_loss, label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    right.plot(epochs, train_acc, label="train")
    right.plot(epochs, test_acc, label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axis in (left, right):
        axis.legend()
    figure.suptitle(f"grokking (a + b) mod {P}: 30% of pairs for training, weight decay 1")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
