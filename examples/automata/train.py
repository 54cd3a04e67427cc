"""Train a small GRU on each language of languages.py and save it as <name>.pt2.

    python examples/automata/train.py            # seconds per language on 2 CPU cores

Strings of length 1 to 8 only (random, 64 per step, one length per step), Adam from lr 1e-2 on a
cosine schedule, 1500 steps, seed 1. The checkpoints are traced at length 12 (`s:int[12]={0,1}`,
`--output argmax` inside): nnc checks the automaton on every string up to 12 — longer than anything
the networks saw. One more checkpoint, has1011_seed0.pt2, is the same recipe with seed 0: a network
that is right on every string it was trained on and wrong on 0.3% of the longer ones.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import nnc
import numpy as np
import torch
from languages import BY_NAME, LANGUAGES, Language
from torch import nn

HERE = Path(__file__).resolve().parent
TRAINED_LENGTH = 8
TRACED_LENGTH = 12
SPEC = f"s:int[{TRACED_LENGTH}]={{0,1}}"
STEPS = 1500
SEED = 1
IMPERFECT = ("has1011", 0)  # (language, seed) of the checkpoint that generalises worse


class Recognizer(nn.Module):
    """Token embedding → GRU → linear head on the last output: the two class scores."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 4)
        self.rnn = nn.GRU(4, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out[:, -1])


def every_string(length: int) -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=length)), dtype=np.int64)


def accuracy(model: nn.Module, language: Language, lengths: range) -> float:
    """Share of all strings with lengths in `lengths` the model labels right."""
    right = total = 0
    with torch.no_grad():
        for length in lengths:
            strings = every_string(length)
            guesses = model(torch.from_numpy(strings)).argmax(-1).numpy()
            right += int((guesses == language.labels(strings)).sum())
            total += len(strings)
    return right / total


def train(language: Language, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Recognizer()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    for _ in range(STEPS):
        length = int(rng.integers(1, TRAINED_LENGTH + 1))
        strings = rng.integers(0, 2, size=(64, length))
        loss = nn.functional.cross_entropy(
            model(torch.from_numpy(strings)), torch.from_numpy(language.labels(strings))
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def main(names: list[str]) -> None:
    torch.set_num_threads(1)  # small batches: a second thread only costs synchronisation
    runs = [(language, language.name, SEED) for language in LANGUAGES]
    runs.append((BY_NAME[IMPERFECT[0]], f"{IMPERFECT[0]}_seed{IMPERFECT[1]}", IMPERFECT[1]))
    for language, name, seed in runs:
        if names and name not in names:
            continue
        start = time.time()
        model = train(language, seed)
        seconds = time.time() - start
        seen = accuracy(model, language, range(1, TRAINED_LENGTH + 1))
        unseen = accuracy(model, language, range(TRAINED_LENGTH + 1, TRACED_LENGTH + 1))
        print(
            f"{name}: {STEPS} steps, {seconds:.1f} s; right on {seen:.2%} of the strings of "
            f"length 1..{TRAINED_LENGTH}, {unseen:.2%} of {TRAINED_LENGTH + 1}..{TRACED_LENGTH}"
        )
        nnc.save_model(model, HERE / f"{name}.pt2", inputs=[SPEC], output="argmax")


if __name__ == "__main__":
    main(sys.argv[1:])
