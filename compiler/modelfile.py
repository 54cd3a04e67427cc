"""Load a model from disk or memory; save one (with its input spec, without build paths).

Formats: torch.export archives (.pt2, read through a data-only copy unless trusted), TorchScript,
and a pickled whole module only when the caller says it trusts the file (unpickling runs arbitrary
code); weights-only loading otherwise.
"""

from __future__ import annotations

import inspect
import json
import os
import pickle
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InputError
from .limits import check_input_elements
from .options import Options
from .provenance import is_library_file, portable_stack_trace, user_files
from .pt2_archive import check_custom_operators, check_members, data_only_copy
from .spec_grammar import file_problem, parse_inputs
from .torch_model import EXPORT_LOCK, chunk_for, example_inputs, run_model
from .torchscript_archive import check_tensors

__all__ = ["EXTRA_FILE", "LoadedModel", "load_model", "save_model"]

EXTRA_FILE = "nnc.json"  # inside a .pt2: {"inputs": [spec, ...], "output": "argmax"}


@dataclass
class LoadedModel:
    """A model ready to trace, plus the defaults a .pt2 written by nnc carries."""

    module: torch.nn.Module | torch.jit.ScriptModule
    inputs: list[str] = field(default_factory=list)
    output: str | None = None
    static_batch: int | None = None  # an ExportedProgram traced with a fixed batch size
    sample_bytes: int = 0  # one sample's values in the network (set once traced): sizes chunks

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The network on these points (float64, n × output), in chunks that bound its memory."""
        return run_model(self.module, inputs, self.static_batch or chunk_for(self.sample_bytes))


def _from_program(
    program: torch.export.ExportedProgram,
    inputs: list[str] | None = None,
    output: str | None = None,
) -> LoadedModel:
    user = set(program.graph_signature.user_inputs)
    sizes = [
        n.meta["val"].shape[0]
        for n in program.graph.nodes
        if n.op == "placeholder" and n.name in user and n.meta["val"].dim() > 0
    ]
    static = {int(s) for s in sizes if isinstance(s, int)}
    if static - {1}:
        raise InputError(
            f"the exported program has a fixed batch size of {max(static)}; nnc runs it "
            "one sample at a time",
            hint="export with a dynamic batch dimension (nnc.save_model does) or with batch 1",
        )
    return LoadedModel(program.module(), inputs or [], output, 1 if static else None)


def load_model(source: Any, trust: bool = False) -> LoadedModel:
    """An nn.Module, ExportedProgram or path → LoadedModel, refusing untrusted pickles."""
    if isinstance(source, torch.export.ExportedProgram):
        with EXPORT_LOCK:
            return _from_program(source)
    if isinstance(source, torch.nn.Module):
        return LoadedModel(source)
    if not isinstance(source, (str, Path)):
        raise InputError(
            f"cannot compile a {type(source).__name__}",
            hint="pass a torch.nn.Module, an ExportedProgram or a model file path",
        )
    path = Path(source)
    problem = file_problem(path)
    if problem:
        raise InputError(
            f"model file {str(path)[:200]!r} {problem}",
            hint="pass the path of a model file (a .pt2 from torch.export.save, or TorchScript)",
        )
    kind = _file_kind(path)
    try:
        if kind == "export":
            return _load_exported(path, trust)
        if kind == "torchscript":
            check_members(path)
            check_tensors(path)
            return LoadedModel(torch.jit.load(str(path), map_location="cpu"))
        return _load_pickle(path, trust)
    except InputError:
        raise
    except Exception as error:
        raise _explained(path, error) from error


# (exception type, pattern of its message) → what it means and what to do; {0}, {1}: the groups
_FAILURES: list[tuple[type[BaseException], str, str, str]] = [
    (
        AttributeError,
        r"Can't get attribute '([^']+)' on <module '([^']+)'",
        (
            "the pickled module's class {0} cannot be imported here (it was defined in module {1} "
            "of the program that saved it)"
        ),
        (
            "import the code that defines {0} and pass the module itself to nnc.compile, or export "
            "the model with torch.export.save"
        ),
    ),
    (
        ModuleNotFoundError,
        r"No module named '([^']+)'",
        "the pickled module needs Python module {0!r}, which cannot be imported here",
        "install or import {0} first, or export the model with torch.export.save",
    ),
    (
        RuntimeError,
        r"Unknown builtin op: (\w+::\w+)",
        (
            "the TorchScript model calls custom operator {0}; nnc compiles the standard (ATen) "
            "operators only"
        ),
        "write what {0} computes with standard torch functions, then save the model again",
    ),
]


def _explained(path: Path, error: Exception) -> InputError:
    """An InputError for a failed load: what the error means when nnc knows it, else "corrupt"."""
    text = str(error)
    for kind, pattern, message, hint in _FAILURES:
        found = re.search(pattern, text)
        if isinstance(error, kind) and found:
            groups = found.groups()
            return InputError(
                f"cannot load model file {path.name!r}: {message.format(*groups)}",
                hint=hint.format(*groups),
            )
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return InputError(
        f"cannot read model file {path.name!r}: it is truncated, corrupt or not a model "
        f"({type(error).__name__}: {first})",
        hint="re-save it with torch.export.save(torch.export.export(model, args), path)",
    )


def _file_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception:  # noqa: BLE001 - BadZipFile, or a damaged directory (names, versions)
        return "pickle"  # legacy torch.save files are plain pickles
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any("/models/" in n or n.endswith("archive_format") for n in names):
        return "export"
    if any(n.endswith("data.pkl") for n in names):
        return "pickle"
    raise InputError(
        f"model file {path.name!r} is a zip archive nnc does not recognise",
        hint="pass a .pt2 from torch.export.save or a TorchScript file",
    )


def _load_exported(path: Path, trust: bool) -> LoadedModel:
    """torch.export.load on the file itself when trusted, else on a copy that holds only data
    (see pt2_archive: an archive can carry pickles, guard code and library loads)."""
    extra = {EXTRA_FILE: ""}
    if trust:
        check_members(path)
        check_custom_operators(path)
    source = str(path) if trust else data_only_copy(path)
    with EXPORT_LOCK:
        program = torch.export.load(source, extra_files=extra)
        defaults = json.loads(extra[EXTRA_FILE]) if extra[EXTRA_FILE] else {}
        return _from_program(program, list(defaults.get("inputs", [])), defaults.get("output"))


def _load_pickle(path: Path, trust: bool) -> LoadedModel:
    if zipfile.is_zipfile(path):
        check_members(path)
    if not trust:
        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            if "global" not in str(error):  # not a class reference: the bytes are broken
                raise
            raise InputError(
                f"model file {path.name!r} is a pickled module; loading it would run code "
                "from the file",
                hint="if you trust the file pass --trust-pickle (trust=True); better, export it "
                "with torch.export.save",
            ) from error
        raise InputError(
            f"model file {path.name!r} holds {type(loaded).__name__} (weights only), not a model "
            "nnc can run",
            hint="load the weights into your module and pass the module, or export it with "
            "torch.export.save",
        )
    loaded = torch.load(str(path), map_location="cpu", weights_only=False)
    if not isinstance(loaded, torch.nn.Module):
        raise InputError(
            f"model file {path.name!r} holds a {type(loaded).__name__}, not a module",
            hint="save the whole module, or export it with torch.export.save",
        )
    return LoadedModel(loaded)


def _code_folder(model: torch.nn.Module, program: torch.export.ExportedProgram) -> Path:
    """The folder of the model's own code: where its class is defined, or, for a torch class
    (nn.Sequential), the deepest folder holding every user file in the traces."""
    try:
        defined = inspect.getsourcefile(type(model))
    except (TypeError, OSError):  # a class defined outside any importable module
        defined = None
    if defined and not is_library_file(defined):
        return Path(defined).resolve().parent
    folders = {
        str(Path(f).resolve().parent)
        for node in program.graph.nodes
        for f in user_files(node.meta.get("stack_trace") or "")
    }
    return Path(os.path.commonpath(sorted(folders))) if folders else Path.cwd()


def save_model(
    model: torch.nn.Module, path: str | Path, inputs: Sequence[str], output: str | None = None
) -> None:
    """Export `model` with a dynamic batch dimension and save it as a .pt2 that carries its input
    specs and output semantics (so `nnc model.pt2 -o algo.so` needs no flags). Source locations
    keep the user's lines with file names relative to the model's code, never the machine's
    paths, so errors about the loaded model still say where."""
    specs = parse_inputs(list(inputs))
    check_input_elements(specs, Options())
    examples = tuple(torch.cat([t, t]) for t in example_inputs(specs))  # batch 2: stays dynamic
    dynamic = tuple({0: torch.export.Dim.AUTO} for _ in specs)
    defaults = {"inputs": list(inputs), **({"output": output} if output else {})}
    with EXPORT_LOCK:
        program = torch.export.export(model, examples, dynamic_shapes=dynamic, strict=False)
        root = _code_folder(model, program)
        for node in program.graph.nodes:
            if node.meta.get("stack_trace"):
                node.meta["stack_trace"] = portable_stack_trace(node.meta["stack_trace"], root)
        torch.export.save(program, str(path), extra_files={EXTRA_FILE: json.dumps(defaults)})
