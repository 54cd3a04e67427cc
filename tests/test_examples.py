"""The shipped examples run as their READMEs say: C program, Python loader, clean checkpoints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nnc
import numpy as np
import torch
from helpers import FLOAT32_RTOL, GATE_MAX, network_output
from nnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "examples" / "physics"


def _build_c(source: Path, library: Path, *defines: str) -> Path:
    """Compile an example's C program against a library nnc wrote (header beside it)."""
    binary = library.with_suffix("")
    folder = library.parent
    command = ["cc", "-O2", f"-I{folder}", *defines, str(source), str(library), "-o", str(binary)]
    subprocess.run([*command, f"-Wl,-rpath,{folder}"], check=True)
    return binary


def test_c_program_calls_the_library(tmp_path: Path) -> None:
    """README's first command: the law comes out, and C, Python and the law agree."""
    assert main([str(PHYSICS / "model.pt2"), "-o", str(tmp_path / "algo.so"), "-q"]) == 0
    binary = _build_c(PHYSICS / "main.c", tmp_path / "algo.so")
    printed = subprocess.run(
        [str(binary), "2.0", "3.0", "1.5"], capture_output=True, text=True, check=True
    ).stdout
    network, scalar, law = map(
        float, re.search(r"network (\S+), scalar call (\S+), law (\S+)", printed).groups()
    )
    loaded = nnc.load(tmp_path / "algo.so")
    assert loaded.metadata["closed_form"] == "x0*x1/x2**2"
    assert network == scalar  # C prints 9 digits; Python returns the network's float32
    assert abs(network - loaded(np.array([2.0, 3.0, 1.5]))[0].item()) <= 1e-7 * abs(network)
    assert abs(network - law) <= 1e-6 * abs(law)  # the closed form is the law itself
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    original = network_output(program, np.array([[2.0, 3.0, 1.5]], dtype=np.float32))[0, 0]
    assert abs(network - original) <= GATE_MAX * abs(original)


def test_exact_mode_library_matches_the_network(tmp_path: Path) -> None:
    out = tmp_path / "exact.so"
    assert main([str(PHYSICS / "model.pt2"), "-o", str(out), "-q", "--mode", "exact"]) == 0
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    x = np.random.default_rng(0).uniform(1, 3, size=(100, 3)).astype(np.float32)
    np.testing.assert_allclose(
        nnc.load(out)(x), network_output(program, x), rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL
    )


def test_python_example_uses_only_the_loader(tmp_path: Path) -> None:
    assert main([str(PHYSICS / "model.pt2"), "-o", str(tmp_path / "algo.so"), "-q"]) == 0
    blocker = tmp_path / "sitecustomize.py"  # makes `import torch` fail in the child process
    blocker.write_text("import sys\nsys.modules['torch'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, str(PHYSICS / "use_library.py"), str(tmp_path / "algo.so")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "verified on 4096 points" in result.stdout


def test_shipped_checkpoints_carry_no_build_paths() -> None:
    for checkpoint in ROOT.glob("examples/**/*.pt2"):
        with zipfile.ZipFile(checkpoint) as archive:
            for name in archive.namelist():
                data = archive.read(name)
                for marker in (b"/home/", b"/root/", b"/work/", b"/tmp/", b"site-packages"):
                    assert marker not in data, f"{checkpoint.name}:{name} contains {marker!r}"
        assert checkpoint.stat().st_size < 4 << 20


AUTOMATA = ROOT / "examples" / "automata"


def test_automata_example_streams_the_language_from_c(tmp_path: Path) -> None:
    """README of examples/automata: the GRU trained on 'contains 1011' compiles to the language's
    5-state automaton, which main.c streams token by token."""
    assert main([str(AUTOMATA / "has1011.pt2"), "-o", str(tmp_path / "has1011.so"), "-q"]) == 0
    library = nnc.load(tmp_path / "has1011.so")
    assert library.metadata["abi"]["automaton"]["states"] == 5
    strings = np.random.default_rng(0).integers(0, 2, size=(200, 30))
    contains = ["1011" in "".join(map(str, s)) for s in strings]
    assert [library.automaton(s) for s in strings] == [int(c) for c in contains]
    defines = ("-DLANG=has1011", "-DLANG_START=HAS1011_START", '-DHEADER="has1011.h"')
    binary = _build_c(AUTOMATA / "main.c", tmp_path / "has1011.so", *defines)
    printed = subprocess.run(
        [str(binary), "0101101"], capture_output=True, text=True, check=True
    ).stdout
    decisions = re.findall(r"decision (-?\d)", printed)
    assert decisions == ["0", "0", "0", "0", "1", "1", "1"] and "whole string: 1" in printed
