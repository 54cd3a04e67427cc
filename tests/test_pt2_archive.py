"""Crafted .pt2 files must not run code unless trusted: each attack is first shown to work through
torch.export.load (so the file is potent), then refused by nnc with exit 2 and no marker file."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import nnc
import pytest
import torch
from nnc.pt2_archive import data_only_copy

EXAMPLE = Path(__file__).parents[1] / "examples" / "physics" / "model.pt2"
SPEC = "x:float[3]=1..3"


class _Touch:
    """Unpickling this creates `path`: the marker of code execution."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(EXAMPLE) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _edit_json(members: dict[str, bytes], suffix: str, change: Callable[[dict], None]) -> None:
    (name,) = [n for n in members if n.endswith(suffix)]
    tree = json.loads(members[name])
    change(tree)
    members[name] = json.dumps(tree).encode()


def pickled_weight(marker: Path) -> dict[str, bytes]:
    members = _members()

    def mark(config: dict) -> None:
        entry = config["config"]["0.bias"]
        entry["use_pickle"] = True
        members["model/data/weights/" + entry["path_name"]] = pickle.dumps(_Touch(marker))

    _edit_json(members, "model_weights_config.json", mark)
    return members


def pickled_sample_inputs(marker: Path) -> dict[str, bytes]:
    members = _members()
    members["model/data/sample_inputs/model.pt"] = pickle.dumps(_Touch(marker))
    return members


def shape_expression(marker: Path) -> dict[str, bytes]:
    members = _members()
    code = f"__import__('os').system('touch {marker}')"

    def inject(program: dict) -> None:
        values = program["graph_module"]["graph"]["sym_int_values"]
        values["s_evil"] = {"as_expr": {"expr_str": code, "hint": None}}
        node = program["graph_module"]["graph"]["nodes"][0]
        node["outputs"].append({"as_sym_int": {"as_name": "s_evil"}})

    _edit_json(members, "models/model.json", inject)
    return members


def guard_code(marker: Path) -> dict[str, bytes]:
    members = _members()

    def inject(program: dict) -> None:
        program["guards_code"] = [f"__import__('os').system('touch {marker}') == 0"]

    _edit_json(members, "models/model.json", inject)
    return members


def foreign_target(marker: Path) -> dict[str, bytes]:
    members = _members()

    def inject(program: dict) -> None:
        program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.save"

    _edit_json(members, "models/model.json", inject)
    return members


def shared_library(marker: Path) -> dict[str, bytes]:
    members = _members()
    members["model/data/aotinductor/model/model.so"] = b"\x7fELF"
    return members


def custom_object(marker: Path) -> dict[str, bytes]:
    members = _members()

    def inject(config: dict) -> None:
        config["config"]["evil"] = {
            "path_name": "opaque_obj_0",
            "is_param": False,
            "use_pickle": True,
            "tensor_meta": None,
        }

    _edit_json(members, "model_constants_config.json", inject)
    members["model/data/constants/opaque_obj_0"] = pickle.dumps(_Touch(marker))
    return members


def legacy_weights(marker: Path) -> dict[str, bytes]:
    members = _members()
    members["model/data/weights/model.pt"] = pickle.dumps(_Touch(marker))
    return members


ATTACKS = [
    pickled_weight,
    pickled_sample_inputs,
    shape_expression,
    guard_code,
    foreign_target,
    shared_library,
    custom_object,
    legacy_weights,
]
# attacks that torch.export.load itself executes on load (the others act later, or need a
# matching library to exist): the control test shows their marker appears without nnc's copy
EXECUTED_BY_TORCH = [pickled_weight, pickled_sample_inputs, shape_expression, custom_object]


@pytest.mark.parametrize("attack", EXECUTED_BY_TORCH, ids=lambda a: a.__name__)
def test_the_crafted_file_runs_code_through_torch_alone(attack, tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pt2", attack(marker))
    with contextlib.suppress(Exception):  # what matters is whether the marker appeared
        torch.export.load(str(path)).module()
    assert marker.exists(), "the crafted file did not run code: this test would prove nothing"


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_compile_refuses_the_crafted_file_without_running_it(attack, tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pt2", attack(marker))
    with pytest.raises(nnc.InputError, match="will not load this .pt2") as caught:
        nnc.compile(str(path), [SPEC], mode="exact")
    assert "--trust-pickle" in caught.value.hint
    assert not marker.exists()


# the CLI's exit path is the same for every attack (the API tests above refuse each one): two in
# the default run, all of them in the slow run (a process start each)
CLI_DEFAULT_RUN = (pickled_weight, guard_code)


@pytest.mark.parametrize(
    "attack",
    [a if a in CLI_DEFAULT_RUN else pytest.param(a, marks=pytest.mark.slow) for a in ATTACKS],
    ids=lambda a: a.__name__,
)
def test_cli_exits_2_on_the_crafted_file_without_running_it(attack, tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pt2", attack(marker))
    run = subprocess.run(
        [sys.executable, "-m", "nnc.cli", str(path), "--input", SPEC, "-o", "out.so"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "will not load this .pt2" in run.stderr
    assert "Traceback" not in run.stderr
    assert not marker.exists()
    assert not (tmp_path / "out.so").exists()


def test_a_member_with_a_bad_crc_is_refused(tmp_path):
    path = _write(tmp_path / "flipped.pt2", _members())
    data = bytearray(path.read_bytes())
    (name,) = [n for n in _members() if n.endswith("weight_2")]
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(name).header_offset + 30 + len(name)
    data[offset + 100] ^= 0xFF  # one byte of the weights: the zip directory stays intact
    path.write_bytes(bytes(data))
    with pytest.raises(nnc.InputError, match="corrupt"):
        data_only_copy(path)


def test_trusted_files_load_as_torch_loads_them(tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pt2", pickled_weight(marker))
    with pytest.raises(nnc.NNCError):  # the pickled "weight" is not a tensor: compile fails
        nnc.compile(str(path), [SPEC], mode="exact", trust=True)
    assert marker.exists()  # trust=True means torch's own loader, pickles and all


def test_a_clean_copy_compiles_to_the_same_result_as_the_model():
    program = torch.export.load(str(EXAMPLE))
    artifact = nnc.compile(str(EXAMPLE), mode="exact")
    x = torch.rand(64, 3) * 2 + 1
    expected = program.module()(x).detach().double().numpy()
    assert abs(artifact(x.numpy()) - expected).max() <= 1e-5 * abs(expected).max()
