"""The `nnc` command: outputs, report, exit codes, and bad input that leaves nothing behind."""

from __future__ import annotations

import ast
import importlib.util
import json
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import assert_matches_model
from nnc.backends import aot
from nnc.cli import main
from nnc.cli_parsers import COMMANDS, all_parsers
from torch import nn

SPEC = "x:float[3]=1..3"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


@pytest.fixture
def pt2(mlp: nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "mlp.pt2"
    nnc.save_model(mlp, path, inputs=[SPEC])
    return path


def test_compile_writes_library_and_header(
    pt2: Path, mlp: nn.Module, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "algo.so"
    assert main([str(pt2), "-o", str(out), "--mode", "exact"]) == 0
    printed = capsys.readouterr().out
    assert "verified on 4,096 points sampled from the domain" in printed and "fold" in printed
    header = out.with_suffix(".h").read_text()
    assert "int algo_eval(const double *x, double *y);" in header
    assert "int algo_eval_batch(int64_t n, const double *x, double *y);" in header
    assert "const char *algo_metadata(void);" in header
    assert_matches_model(nnc.load(out), mlp, [SPEC])


def test_precision_option(pt2: Path, mlp: nn.Module, tmp_path: Path, capsys) -> None:
    """--precision double computes in double (the typed float rows still exist); an unknown
    precision is refused before any work, naming the choices."""
    out = tmp_path / "wide.so"
    assert main([str(pt2), "-o", str(out), "--mode", "exact", "--precision", "double"]) == 0
    assert "entries checked against the network: wide_eval, " in capsys.readouterr().out
    library = nnc.load(out)
    assert library.metadata["precision"] == "double"
    assert_matches_model(library, mlp, [SPEC])
    assert "int wide_eval_batch_f32(int64_t n, const float *x, float *y);" in (
        out.with_suffix(".h").read_text()
    )
    with pytest.raises(nnc.NNCError, match="precision 'half'") as refused:
        nnc.compile(mlp, [SPEC], precision="half")
    assert "double" in refused.value.hint


def test_name_option_and_json_report(pt2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "lib.so"
    assert main([str(pt2), "-o", str(out), "--name", "force", "--json", "--mode", "exact"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verification"]["passed"] and report["passes"][0]["name"] == "fold"
    assert nnc.load(out).prefix == "force"
    assert "int force_eval(" in out.with_suffix(".h").read_text()


def test_same_input_string_in_cli_and_python(mlp: nn.Module, tmp_path: Path) -> None:
    torch.jit.script(mlp).save(str(tmp_path / "mlp.ts"))
    out = tmp_path / "ts.so"
    assert main([str(tmp_path / "mlp.ts"), "--input", SPEC, "--mode", "exact", "-o", str(out)]) == 0
    python = nnc.compile(mlp, inputs=[SPEC], mode="exact")  # the CLI call above said the same
    x = np.random.default_rng(0).uniform(1, 3, size=(10, 3))
    np.testing.assert_array_equal(nnc.load(out)(x), python(x))


def test_inspect_prints_graph_params_and_coverage(pt2: Path, capsys) -> None:
    assert main(["inspect", str(pt2)]) == 0
    printed = capsys.readouterr().out
    assert "ok  aten.tanh.default: 1" in printed
    assert "= tanh(%" in printed and "50 parameters" in printed


def _expect_error(argv: list[str], code: int, words: str, capsys, out: Path) -> None:
    if "--mode" not in argv:
        argv = [*argv, "--mode", "exact"]  # the faithful path: no symbolic search before failing
    assert main(argv) == code
    err = capsys.readouterr().err
    assert words in err and "nnc: hint:" in err
    assert not out.exists() and not out.with_suffix(".h").exists()
    if out.parent.is_dir():
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_truncated_model_file(pt2: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.pt2"
    broken.write_bytes(pt2.read_bytes()[: pt2.stat().st_size // 2])
    _expect_error(
        [str(broken), "-o", str(tmp_path / "a.so")], 2, "truncated", capsys, tmp_path / "a.so"
    )


def test_corrupt_model_file(tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    _expect_error(
        [str(garbage), "--input", SPEC, "-o", str(tmp_path / "a.so")],
        2,
        "cannot read model file",
        capsys,
        tmp_path / "a.so",
    )


def test_pickle_needs_trust(mlp: nn.Module, tmp_path: Path, capsys) -> None:
    pickled = tmp_path / "whole.pt"
    torch.save(mlp, pickled)
    out = tmp_path / "a.so"
    _expect_error([str(pickled), "--input", SPEC, "-o", str(out)], 2, "--trust-pickle", capsys, out)
    assert (
        main([str(pickled), "--input", SPEC, "--trust-pickle", "-o", str(out), "--mode", "exact"])
        == 0
    )
    assert out.exists()


def test_state_dict_is_not_a_model(mlp: nn.Module, tmp_path: Path, capsys) -> None:
    weights = tmp_path / "weights.pt"
    torch.save(mlp.state_dict(), weights)
    _expect_error(
        [str(weights), "--input", SPEC, "-o", str(tmp_path / "a.so")],
        2,
        "weights only",
        capsys,
        tmp_path / "a.so",
    )


def test_wrong_input_shape(pt2: Path, tmp_path: Path, capsys) -> None:
    _expect_error(
        [str(pt2), "--input", "x:float[5]=0..1", "-o", str(tmp_path / "a.so")],
        2,
        "could not trace",
        capsys,
        tmp_path / "a.so",
    )


def test_nan_weights(mlp: nn.Module, tmp_path: Path, capsys) -> None:
    with torch.no_grad():
        mlp[0].weight[0, 0] = float("nan")
    path = tmp_path / "nan.pt2"
    nnc.save_model(mlp, path, inputs=[SPEC])
    _expect_error(
        [str(path), "-o", str(tmp_path / "a.so")], 2, "NaN/Inf", capsys, tmp_path / "a.so"
    )


def test_unwritable_output_path(pt2: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no" / "such" / "algo.so"
    _expect_error([str(pt2), "-o", str(missing)], 2, "does not exist", capsys, missing)
    assert main([str(pt2), "-o", str(tmp_path), "--mode", "exact"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_malformed_spec_exit_code(pt2: Path, tmp_path: Path, capsys) -> None:
    _expect_error(
        [str(pt2), "--input", "x:float[3]=1..", "-o", str(tmp_path / "a.so")],
        2,
        "column 15",
        capsys,
        tmp_path / "a.so",
    )


def test_failed_link_leaves_nothing(pt2: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CC", "false")
    _expect_error(
        [str(pt2), "-o", str(tmp_path / "a.so")],
        5,
        "linking the shared library failed",
        capsys,
        tmp_path / "a.so",
    )


def test_missing_compiler_names_both_ways(pt2: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang
    monkeypatch.setattr(aot, "zig_installed", lambda: False)
    _expect_error(
        [str(pt2), "-o", str(tmp_path / "a.so")], 4, "no C compiler", capsys, tmp_path / "a.so"
    )
    main([str(pt2), "-o", str(tmp_path / "a.so"), "--mode", "exact"])
    err = capsys.readouterr().err
    assert "apt-get install gcc" in err and "nnc[zig]" in err


@pytest.mark.skipif(
    importlib.util.find_spec("ziglang") is None,
    reason="the nnc[zig] extra is not installed (CI installs it)",
)
def test_zig_links_when_there_is_no_c_compiler(pt2: Path, tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"  # only python on PATH: no cc, gcc or clang
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "zig.so"
    assert main([str(pt2), "-o", str(out), "-q", "--mode", "exact"]) == 0
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(nnc.load(out)(x), nnc.compile(pt2, mode="exact")(x))


def test_verification_failure_exit_code(pt2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.so"
    _expect_error(
        [str(pt2), "--tolerance", "1e-30", "--mode", "exact", "-o", str(out)],
        3,
        "does not match the network",
        capsys,
        out,
    )


def test_pickle_refusal_runs_no_code(tmp_path: Path, capsys) -> None:
    class Bomb:
        def __reduce__(self):  # would create a file if unpickled
            return (Path.touch, (tmp_path / "exploded",))

    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bomb/data.pkl", pickle.dumps(Bomb()))
        archive.writestr("bomb/.format_version", "1")
    assert main([str(path), "--input", SPEC, "-o", str(tmp_path / "a.so")]) == 2
    assert not (tmp_path / "exploded").exists()


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"nnc {nnc.__version__} (torch ")


def test_help_lists_every_command_and_each_has_an_example() -> None:
    top = all_parsers()[0].format_help()
    for name in COMMANDS:
        assert f"nnc {name}" in top, name
    for parser in all_parsers():
        text = parser.format_help()
        assert "example" in text and re.search(r"^  nnc ", text, re.MULTILINE), parser.prog


def _hint_strings() -> list[str]:
    """Every string literal passed as `hint=` anywhere in the package."""
    found = []
    for folder in ("compiler", "passes", "backends"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg == "hint":
                            found += [
                                c.value
                                for c in ast.walk(keyword.value)
                                if isinstance(c, ast.Constant) and isinstance(c.value, str)
                            ]
    return found


def test_hints_name_only_options_that_exist() -> None:
    options = {o for parser in all_parsers() for a in parser._actions for o in a.option_strings}
    options |= {*COMMANDS, "--version"}  # `nnc --list-ops` and the like are commands
    hints = _hint_strings()
    assert len(hints) > 30  # the walk found the package's hints
    named = {flag for hint in hints for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", hint)}
    assert named and named <= options, sorted(named - options)


def test_output_must_be_a_shared_library(pt2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.txt"
    _expect_error([str(pt2), "-o", str(out)], 2, "must end in .so", capsys, out)
    assert main([str(pt2), "-o", str(out), "--mode", "exact"]) == 2
    assert f"write -o {tmp_path / 'a.so'}" in capsys.readouterr().err
    assert not (tmp_path / "a.h").exists()


def _closed_reader(*argv: str) -> subprocess.CompletedProcess:
    """Run nnc with its stdout a pipe whose reader has already gone (as `nnc ... | head` ends)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nnc.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()
    stderr = process.stderr.read()
    return subprocess.CompletedProcess(argv, process.wait(), "", stderr)


def test_broken_pipes_end_quietly(pt2: Path, tmp_path: Path) -> None:
    out = tmp_path / "algo.so"
    assert main([str(pt2), "-o", str(out), "--mode", "exact", "-q"]) == 0
    for argv in (["--list-ops"], ["show", str(out), "--asm"]):
        run = _closed_reader(*argv)
        assert (run.returncode, run.stderr) == (141, ""), argv


def test_quiet_and_json_work_for_every_command(pt2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "algo.so"
    for argv in (
        [str(pt2), "-o", str(out), "--mode", "exact"],
        ["show", str(out)],
        ["inspect", str(pt2)],
        ["--list-ops"],
        ["--list-passes"],
    ):
        assert main([*argv, "-q"]) == 0
        assert capsys.readouterr().out == "", argv
        assert main([*argv, "--json"]) == 0
        json.loads(capsys.readouterr().out)


def test_show_lists_and_disassembles_every_export(tmp_path: Path, capsys) -> None:
    """Every function the header declares, the typed column entries included."""
    model = nn.Linear(3, 1)
    path = tmp_path / "linear.pt2"
    nnc.save_model(model, path, inputs=[SPEC])
    out = tmp_path / "law.so"
    assert main([str(path), "-o", str(out), "--mode", "exact", "-q"]) == 0
    header = out.with_suffix(".h").read_text()
    declared = re.findall(r"^(?!static )[a-z].*?\b(\w+)\(", header, re.MULTILINE)
    assert {"law_batch_f32", "law_batch_f64", "law"} <= set(declared)
    assert "static inline double law_inline(" in header  # compiled by the caller: no export
    assert main(["show", str(out), "--asm"]) == 0
    printed = capsys.readouterr().out
    exports = printed.split("exports: ")[1].splitlines()[0].split(", ")
    assert sorted(exports) == sorted(declared)
    for symbol in declared:
        body = printed.split(f"\n{symbol}:\n")[1].split("\n\n")[0]
        assert "ret" in body, symbol


def test_show_names_only_options_that_exist(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "libother.so"
    subprocess.run(
        ["cc", "-shared", "-o", str(foreign), "-x", "c", "-"],
        input="int other(void) { return 1; }\n",
        text=True,
        check=True,
    )
    assert main(["show", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert "exports no nnc functions" in err and "--name PREFIX" in err


def test_print_after_prints_the_named_passes(pt2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "algo.so"
    argv = [str(pt2), "-o", str(out), "--mode", "exact", "--print-after", "fold"]
    assert main([*argv, "--print-after", "lower"]) == 0
    printed = capsys.readouterr().out
    assert "--- graph after pass fold: " in printed and "--- graph after pass lower: " in printed
    assert "graph after pass prune" not in printed and "graph after front end" not in printed
    assert "%x : f32[1, 3] = input(spec=x)" in printed


def test_print_after_with_json_keeps_stdout_for_the_report(pt2: Path, tmp_path: Path, capsys):
    out = tmp_path / "algo.so"
    argv = [str(pt2), "-o", str(out), "--mode", "exact", "--json", "--print-after", "all"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verification"]["passed"]
    for stage in ("front end", "pass fold", "pass prune", "pass lower"):
        assert f"nnc: --- graph after {stage}: " in captured.err


def test_print_after_a_misspelt_pass_exit_code(pt2: Path, tmp_path: Path, capsys) -> None:
    argv = [str(pt2), "-o", str(tmp_path / "a.so"), "--mode", "exact", "--print-after", "fodl"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'fodl', which is not a pass" in err and "did you mean 'fold'?" in err
    assert not (tmp_path / "a.so").exists()


def test_unreadable_debug_level_exit_code(pt2: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NNC_DEBUG", "loud")
    assert main([str(pt2), "-o", str(tmp_path / "a.so")]) == 2
    err = capsys.readouterr().err
    assert "NNC_DEBUG='loud' is not a debug level" in err and "Traceback" in err


@pytest.mark.slow  # 20 s; the units pass and the options have fast tests of their own
def test_units_workers_and_a_bad_cluster_from_the_command_line(
    pt2: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "units.so"
    argv = [str(pt2), "-o", str(out), "--mode", "exact", "--json", "--workers", "1"]
    assert main([*argv, "--explain-units", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passes"][0]["name"] == "units" and report["fanout"]["engine"] == "serial"
    assert report["passes"][0]["data"]["units 1"][0]["unit"] == 0
    assert main([*argv, "--explain-units", "nowhere"]) == 2
    assert "no module or node 'nowhere'" in capsys.readouterr().err
    assert main([*argv, "--workers", "0"]) == 2
    assert "workers=0 must be at least 1" in capsys.readouterr().err
    assert main([*argv, "--explain-units", "1", "--passes", "fold"]) == 2
    assert "add units to --passes" in capsys.readouterr().err
