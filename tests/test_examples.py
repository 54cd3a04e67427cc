"""The README's commands and the shipped examples run as they say, on a fresh copy of the
repository that they leave clean: the first command's compile and what it prints, the same library
called from C, Rust and Python (without torch), and `ldd`'s list of what a library needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nnc
import numpy as np
import pytest
import torch
from helpers import FLOAT32_RTOL, GATE_MAX, network_output
from nnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PHYSICS = ROOT / "examples" / "physics"
CARGO = shutil.which("cargo")


def _block(after: str) -> str:
    """The first fenced code block after the line containing `after`."""
    rest = README[README.index(after) :]
    return rest.split("```", 2)[1].split("\n", 1)[1]


def _flat(text: str) -> str:
    return " ".join(text.split())


def assert_abridged(quoted: str, printed: str) -> None:
    """Every line of an abridged printout is in the real one, in order; `…` elides a part."""
    where = 0
    flat = _flat(printed)
    for line in quoted.strip().splitlines():
        for part in filter(None, (_flat(p) for p in line.split("…"))):
            found = flat.find(part, where)
            assert found >= 0, f"{part!r} is not in what nnc printed:\n{printed}"
            where = found + len(part)


def _run(command: str, cwd: Path, env: dict | None = None) -> str:
    """A README command in a shell, with this Python's `nnc` and `python` first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    run = subprocess.run(
        command,
        shell=True,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, **(env or {})},
        check=False,
    )
    assert run.returncode == 0, f"{command}\n{run.stdout}\n{run.stderr}"
    return run.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the repository's tracked files (a fresh clone, as git sees it) after README's
    first command ran in it (without the install step): the copy and what the command printed."""
    copy = tmp_path_factory.mktemp("clone")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "clone"], cwd=copy, check=True)
    install, test = _block("# nnc —").strip().splitlines()
    assert install.startswith("pip install ") and test == "python -m pytest"
    commands = [c for c in install.split(" && ") if not c.startswith("pip install")]
    printed = "".join(_run(c, copy) for c in commands)
    return copy, printed


def _untracked(copy: Path) -> list[str]:
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
    )
    return status.stdout.splitlines()


def test_first_command_prints_what_the_readme_says(clone) -> None:
    copy, printed = clone
    assert (copy / "build" / "algo.so").is_file() and (copy / "build" / "algo.h").is_file()
    assert_abridged(_block("prints what it did (abridged)"), printed)
    assert _untracked(copy) == []


def _numbers(printed: str) -> list[tuple[float, ...]]:
    """(x0, x1, x2, network, scalar call, law) per line a caller printed."""
    pattern = r"x = \((\S+), (\S+), (\S+)\): network (\S+), scalar call (\S+), law (\S+)"
    return [tuple(map(float, m)) for m in re.findall(pattern, printed)]


def test_the_library_from_c_rust_and_python_without_torch(clone) -> None:
    """README's three callers print the same numbers; the clone stays clean."""
    copy, _ = clone
    block = _block("The same library from three languages").strip().splitlines()
    c, rust, python = block
    blocker = copy / "build" / "no-torch"  # makes `import torch` fail in the Python caller
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    outputs = [_run(c, copy), _run(python, copy, {"PYTHONPATH": str(blocker)})]
    (first, *others) = [_numbers(o) for o in outputs]
    assert len(first) == 1 and others == [first], outputs
    x0, x1, x2, network, scalar, law = first[0]
    assert network == scalar  # the batch and the scalar entry compute the same double
    loaded = nnc.load(copy / "build" / "algo.so")
    assert loaded.run(np.array([[x0, x1, x2]]))[0, 0] == network
    assert loaded(np.array([x0, x1, x2]))[0] == np.float32(network)  # in the network's dtype
    assert abs(network - law) <= 1e-6 * abs(law)  # the closed form is the law itself
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    original = network_output(program, np.array([[x0, x1, x2]], dtype=np.float32))[0, 0]
    assert abs(network - original) <= GATE_MAX * abs(original)
    assert "closed form x0*x1/x2**2" in outputs[1]
    assert _untracked(copy) == []
    if CARGO is None:
        pytest.skip("cargo is not installed: the Rust caller was not built (C and Python agree)")
    assert _numbers(_run(rust, copy)) == first
    assert _untracked(copy) == []


def _needed(library: Path) -> set[str]:
    listed = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True)
    return {m for m in re.findall(r"^\s*(lib[\w+-]+)\.so", listed.stdout, re.MULTILINE)}


def test_ldd_lists_what_the_readme_says(clone, tmp_path: Path) -> None:
    copy, _ = clone
    assert _needed(copy / "build" / "algo.so") == {"libc"}  # x0*x1/x2**2 calls no libm
    network = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
    artifact = nnc.compile(network, ["x:float[2]=0..1"], mode="exact", quiet=True)
    assert _needed(artifact.save(tmp_path / "tanh.so")) == {"libc", "libm"}


def test_exact_mode_library_matches_the_network(tmp_path: Path) -> None:
    out = tmp_path / "exact.so"
    assert main([str(PHYSICS / "model.pt2"), "-o", str(out), "-q", "--mode", "exact"]) == 0
    program = torch.export.load(str(PHYSICS / "model.pt2")).module()
    x = np.random.default_rng(0).uniform(1, 3, size=(100, 3)).astype(np.float32)
    np.testing.assert_allclose(
        nnc.load(out)(x), network_output(program, x), rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL
    )


def test_save_model_writes_no_paths_of_this_machine(tmp_path: Path) -> None:
    """nnc.save_model drops the source locations torch.export records (the examples' checkpoints
    were written by it; examples/check.py checks the shipped files themselves)."""
    path = tmp_path / "model.pt2"
    nnc.save_model(
        torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()),
        path,
        inputs=["x:float[3]=0..1"],
    )
    markers = [str(ROOT).encode(), str(Path(torch.__file__).parent).encode(), b"site-packages"]
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            for marker in markers:
                assert marker not in data, f"{name} contains {marker!r}"
    program = torch.export.load(str(path))
    assert not any(n.meta.get("stack_trace") for n in program.graph.nodes)


def _build_c(source: Path, library: Path, *defines: str) -> Path:
    """Compile an example's C program against a library nnc wrote (header beside it)."""
    binary = library.with_suffix("")
    folder = library.parent
    command = ["cc", "-O2", f"-I{folder}", *defines, str(source), str(library), "-o", str(binary)]
    subprocess.run([*command, f"-Wl,-rpath,{folder}"], check=True)
    return binary


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
