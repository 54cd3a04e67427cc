"""nnc.compile as the driver: debug levels and print_after reach the log, NNC_DEBUG is read when
`debug` is not given, and bad levels are input errors."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import nnc
import pytest
import torch
from nnc.errors import InputError
from torch import nn

SPEC = "x:float[2]=-1..1"


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))


def _ir(lines: list[str], state: str) -> str:
    header = f"--- LLVM IR {state} optimisation ---\n"
    (text,) = [line for line in lines if line.startswith(header)]
    return text[len(header) :]


def test_debug_4_logs_every_level_up_to_the_llvm_ir() -> None:
    lines: list[str] = []
    nnc.compile(_model(), [SPEC], mode="exact", debug=4, log=lines.append)
    before, after = _ir(lines, "before"), _ir(lines, "after")
    for text in (before, after):
        llvm.parse_assembly(text).verify()
        assert re.search(r'define .*@"?nnc_eval_batch"?\(', text)
    assert 'target triple = ""' in before and 'target triple = ""' not in after
    assert any(line.startswith("--- graph after front end: ") for line in lines)
    assert any(line.startswith("fold: unchanged, ops 5 -> 5") for line in lines)  # level 1
    assert "--- graph after pass lower: 2 nodes ---" in [s.splitlines()[0] for s in lines]  # 2
    assert any(  # level 3: the closed form lower found
        line.startswith("lower: closed forms: %exact0 : f32[1, 1] = expr(%x)  ⟨") for line in lines
    )


def test_nnc_debug_is_read_when_debug_is_not_given(monkeypatch, capsys) -> None:
    monkeypatch.setenv("NNC_DEBUG", "2")
    nnc.compile(_model(), [SPEC], mode="exact")  # no log: the asked-for output goes to stderr
    err = capsys.readouterr().err
    assert "nnc: --- graph after front end: " in err
    assert "LLVM IR" not in err  # level 4 only
    lines: list[str] = []
    nnc.compile(_model(), [SPEC], mode="exact", debug=0, log=lines.append)
    assert not any("graph after" in line for line in lines)  # an explicit debug= wins


def test_print_after_without_a_log_goes_to_stderr(capsys) -> None:
    nnc.compile(_model(), [SPEC], mode="exact", print_after=["prune"])
    err = capsys.readouterr().err
    assert "nnc: --- graph after pass prune: " in err and "graph after pass fold" not in err


@pytest.mark.parametrize("level", [5, -1, "2"])
def test_a_debug_level_outside_the_table_is_an_input_error(level) -> None:
    with pytest.raises(
        InputError, match="option debug=.* (must be a level from 0 to 4|is not a whole)"
    ):
        nnc.compile(_model(), [SPEC], debug=level)


def test_nnc_debug_that_is_not_a_level_is_an_input_error(monkeypatch) -> None:
    monkeypatch.setenv("NNC_DEBUG", "yes")
    with pytest.raises(InputError, match="NNC_DEBUG='yes' is not a debug level"):
        nnc.compile(_model(), [SPEC])


class _BatchOfOne(nn.Module):
    """Broadcasts (n, 3) against (n,): right at batch size 1 only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.sum(-1)


class _AcrossTheBatch(nn.Module):
    """Centres every sample on the batch's mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean()


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (_BatchOfOne(), "the model fails on points of the input domain: on a batch of"),
        (_AcrossTheBatch(), "depends on the other samples of its batch"),
    ],
)
def test_models_tied_to_their_batch_are_refused_with_a_reason(model, words) -> None:
    with pytest.raises(nnc.InputError, match=words):
        nnc.compile(model, ["x:float[3]=-1..1"], mode="exact")
