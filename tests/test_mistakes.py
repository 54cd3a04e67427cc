"""Every user mistake the issue found (#14) is an exit code of its class with one line saying what
is wrong and a hint — never exit 70, never a traceback, never an output file."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import nnc
import pytest
import torch
from nnc.cli import main
from torch import nn

SPEC = "x:float[3]=1..3"
GROKKING = Path(__file__).resolve().parents[1] / "examples" / "grokking" / "modadd.pt2"


class Embedder(nn.Module):
    """Tokens → embedding table of 10 rows → scores for 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(tokens).flatten(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model files every case below reads: a float MLP, a token model, and files written by a
    separate Python whose classes and custom operators this process does not have."""
    folder = tmp_path_factory.mktemp("mistakes")
    torch.manual_seed(0)
    nnc.save_model(
        nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)), folder / "mlp.pt2", [SPEC]
    )
    nnc.save_model(Embedder(), folder / "tokens.pt2", ["t:int[2]=0..9"], output="argmax")
    script = textwrap.dedent(
        """
        import sys, torch
        from torch import nn

        @torch.library.custom_op("nnctest_mistakes::twice", mutates_args=())
        def twice(x: torch.Tensor) -> torch.Tensor:
            return x * 2

        @twice.register_fake
        def _(x):
            return torch.empty_like(x)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = nn.Linear(3, 1)

            def forward(self, x):
                return self.linear(torch.ops.nnctest_mistakes.twice(x))

        folder = sys.argv[1]
        torch.export.save(torch.export.export(Net(), (torch.ones(1, 3),)), folder + "/custom.pt2")
        torch.jit.script(Net()).save(folder + "/custom_ts.pt")
        torch.save(nn.Sequential(nn.Linear(3, 1)), folder + "/plain.pt")
        torch.save(Net(), folder + "/main_class.pt")
        torch.jit.script(nn.Sequential(nn.Linear(3, 1))).save(folder + "/script.pt")
        """
    )
    maker = folder / "make.py"  # a file: torch.jit.script reads the source of what it compiles
    maker.write_text(script)
    subprocess.run([sys.executable, str(maker), str(folder)], check=True, capture_output=True)
    return {path.name: path for path in folder.iterdir()}


def _bad_crc(source: Path, target: Path) -> Path:
    """A copy of the archive whose largest member has one byte flipped (its CRC no longer holds)."""
    with zipfile.ZipFile(source) as archive:
        stored = [i for i in archive.infolist() if i.compress_type == zipfile.ZIP_STORED]
        largest = max(stored, key=lambda i: i.compress_size)
        offset = largest.header_offset + 30 + len(largest.filename.encode()) + len(largest.extra)
    data = bytearray(source.read_bytes())
    data[offset + largest.compress_size // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def _undecodable_names(source: Path, target: Path) -> Path:
    """A copy whose central directory says names are UTF-8 and holds one that is not."""
    data = bytearray(source.read_bytes())
    start = data.rfind(b"PK\x01\x02")  # the last entry of the central directory
    flags = struct.unpack_from("<H", data, start + 8)[0]
    struct.pack_into("<H", data, start + 8, flags | 0x800)
    data[start + 46] = 0xFF  # the first byte of its name: never valid UTF-8
    target.write_bytes(bytes(data))
    return target


# name → (arguments given the files and a scratch folder, exit code, words in the message)
CASES: dict[str, tuple[Callable[[dict[str, Path], Path], list[str]], int, str]] = {
    "corrupt zip directory": (
        lambda f, t: [str(_undecodable_names(f["mlp.pt2"], t / "names.pt2"))],
        2,
        "is corrupt: UnicodeDecodeError",
    ),
    "int spec on a float model": (
        lambda f, t: [str(f["mlp.pt2"]), "--input", "x:int[3]=0..3"],
        2,
        "the model fails on points of the input domain",
    ),
    "token beyond the embedding table": (
        lambda f, t: [str(f["tokens.pt2"]), "--input", "t:int[2]=0..20"],
        2,
        "below the embedding's size",
    ),
    "bound beyond int64": (
        lambda f, t: [str(f["tokens.pt2"]), "--input", "t:int[2]=0..99999999999999999999"],
        2,
        "what an input of type int64 holds exactly",
    ),
    "bound 1e999": (
        lambda f, t: [str(f["mlp.pt2"]), "--input", "x:float[3]=0..1e999"],
        2,
        "what an input of type float32 holds exactly",
    ),
    "300-character calibration file": (
        lambda f, t: [str(f["mlp.pt2"]), "--input", "x=@" + "c" * 300 + ".npz"],
        2,
        "cannot be opened (File name too long)",
    ),
    "folder as the model": (lambda f, t: [str(t)], 2, "is a folder"),
    "custom op in a .pt2": (
        lambda f, t: [str(f["custom.pt2"]), "--input", SPEC],
        2,
        "custom operator",
    ),
    "custom op in a trusted .pt2": (
        lambda f, t: [str(f["custom.pt2"]), "--input", SPEC, "--trust-pickle"],
        2,
        "custom operator nnctest_mistakes::twice",
    ),
    "custom op in TorchScript": (
        lambda f, t: [str(f["custom_ts.pt"]), "--input", SPEC],
        2,
        "custom operator nnctest_mistakes::twice",
    ),
    "unimportable pickled class": (
        lambda f, t: [str(f["main_class.pt"]), "--input", SPEC, "--trust-pickle"],
        2,
        "class Net cannot be imported here",
    ),
    "threshold=nan": (
        lambda f, t: [str(f["mlp.pt2"]), "--output", "threshold=nan"],
        2,
        "output 'threshold=nan' is not understood",
    ),
    "negative time budget": (
        lambda f, t: [str(f["mlp.pt2"]), "--sr-seconds", "-5", "--mode", "auto"],
        2,
        "sr_seconds=-5.0 must be a positive number",
    ),
    "unknown module in exact mode": (
        lambda f, t: [str(f["mlp.pt2"]), "--symbolic", "nosuch"],
        2,
        "nosuch",
    ),
    "bad CRC in TorchScript": (
        lambda f, t: [str(_bad_crc(f["script.pt"], t / "crc.pt")), "--input", SPEC],
        2,
        "Bad CRC-32",
    ),
    "bad CRC in a torch.save file": (
        lambda f, t: [
            str(_bad_crc(f["plain.pt"], t / "crc.pt")),
            "--input",
            SPEC,
            "--trust-pickle",
        ],
        2,
        "Bad CRC-32",
    ),
    "unknown limit": (
        lambda f, t: [str(f["mlp.pt2"]), "--limit", "max_weights=3"],
        2,
        "'max_weights' is not a limit",
    ),
    "too many parameters": (
        lambda f, t: [str(f["mlp.pt2"]), "--limit", "max_parameters=10"],
        2,
        "the model has 50 parameters; nnc's limit is max_parameters=10",
    ),
    "too many input elements": (
        lambda f, t: [str(f["mlp.pt2"]), "--input", "x:float[100000000]=0..1"],
        2,
        "nnc's limit is max_input_elements=1,000,000",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_mistake_is_one_line_and_a_hint(
    case: str, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments, code, words = CASES[case]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "out" / "algo.so"
    out.parent.mkdir()
    argv = [*arguments(files, scratch), "-o", str(out)]
    if "--mode" not in argv:
        argv += ["--mode", "exact"]  # the faithful path: no symbolic search before failing
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert words in err and lines[0].startswith("nnc: error: "), err
    assert lines[-1].startswith("nnc: hint: "), err
    assert all(line.startswith("  ") for line in lines[1:-1]), err  # a spec's caret, if any
    assert list(out.parent.iterdir()) == []  # nothing written, no temporary left


def test_a_missing_report_folder_is_refused_before_any_work(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "algo.so"
    report = tmp_path / "no" / "report.md"
    assert main([str(files["mlp.pt2"]), "-o", str(out), "--report", str(report)]) == 2
    err = capsys.readouterr().err
    assert "folder" in err and "does not exist" in err and "traced" not in err
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_written_with_the_usual_permissions(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "algo.so"
    report = tmp_path / "report.md"
    assert (
        main(
            [
                str(files["mlp.pt2"]),
                "-o",
                str(out),
                "--mode",
                "exact",
                "-q",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    pictures = {name: 0o644 for name in modes if name.startswith("report-")}  # beside report.md
    assert modes == {"algo.so": 0o755, "algo.h": 0o644, "report.md": 0o644, **pictures}


@pytest.mark.slow  # a whole grokking compile on samples
def test_argmax_on_a_sampled_domain_is_held_to_its_decisions() -> None:
    """Pruning under a decision head may move the scores (by 22 % here) as long as every decision
    stays: the grokking model on 4096 samples instead of its 12,769 points."""
    artifact = nnc.compile(GROKKING, enumerate_limit=1000)
    fidelity = artifact.report.fidelity
    assert not fidelity.complete and fidelity.agreement == fidelity.points == 4096


def test_an_exact_failure_is_called_a_bug_and_an_approximate_one_is_not() -> None:
    torch.manual_seed(0)
    smooth = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))  # no pass changes it
    with pytest.raises(nnc.FidelityError) as exact:
        nnc.compile(smooth, [SPEC], mode="exact", tolerance=1e-30)
    model = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 1))
    assert "bug in nnc" in exact.value.hint
    with pytest.raises(nnc.FidelityError) as approximate:  # pruning within a generous budget
        nnc.compile(model, [SPEC], passes="prune", prune_budget=0.5, tolerance=1e-30)
    assert "bug" not in approximate.value.hint and "approximate pass" in approximate.value.hint


def test_warnings_from_torch_become_one_note(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loading TorchScript makes torch warn (torch.jit.load is deprecated): one line, no trace."""
    out = tmp_path / "algo.so"
    assert main([str(files["script.pt"]), "--input", SPEC, "-o", str(out), "--mode", "exact"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "nnc: note: torch and the libraries nnc calls warned"
    )
