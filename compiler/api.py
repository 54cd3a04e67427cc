"""nnc.compile: load → trace → passes → backend → verify → Artifact. Wiring only, no logic."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from nnc.passes import default_pipeline
from nnc.backends import get_backend
from nnc.backends.calling import NativeFunction

from .artifact import JIT_PREFIX, Artifact, make_abi
from .errors import InputError, error_context
from .fidelity import Fidelity, check, default_tolerance, measure, run_model
from .frontend import to_graph, trace
from .graph import Graph
from .modelfile import LoadedModel, load_model
from .ops import Op
from .options import Options, OutputSemantics, make_options, parse_output
from .pipeline import run_pipeline
from .report import Report
from .spec import Domain, InputSpec, calibration_spec, parse_spec
from .verify import verify_graph

__all__ = ["compile", "parse_inputs", "with_output_head"]


def compile(  # noqa: A001 - the public name users expect
    model: Any,
    inputs: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> Artifact:
    """Compile a trained PyTorch model into native code that computes what it computes.

    Parameters
    ----------
    model : torch.nn.Module, torch.export.ExportedProgram, or a path (.pt2, TorchScript)
        A pickled whole module is loaded only with ``trust=True``.
    inputs : list of spec strings / InputSpec, or {name: spec string | tensor of samples}
        Names, shapes, dtypes and the domain, e.g. ``["x:float[3]=1..3"]``. A tensor or array
        (n, *shape) is calibration data. Optional for a .pt2 written by ``nnc.save_model``.
    log : callable, optional
        Receives one line per stage (the CLI prints them).
    **options
        See ``nnc.options.Options``: mode, output ("raw", "argmax", "threshold=0.5"), passes,
        trust, enumerate_limit, samples, seed, tolerance, accept_mismatch, cpu.

    Returns
    -------
    Artifact
        Callable on numpy arrays or torch tensors; ``.report``; ``.save("algo.so")``.
    """
    opts = make_options(**options)
    say = log or (lambda line: None)
    seconds: dict[str, float] = {}
    with _stage("load", seconds), error_context("loading the model"):
        loaded = load_model(model, opts.trust)
        if inputs is None and not loaded.inputs:
            raise InputError("no input spec given",
                             hint="pass inputs=['x:float[3]=1..3'] (CLI: --input 'x:float[3]=1..3')")
        specs = parse_inputs(inputs if inputs is not None else loaded.inputs)
        if "output" not in options and loaded.output:
            opts = make_options(**{**options, "output": parse_output(loaded.output)})
    with _stage("trace", seconds), error_context("tracing the model"):
        graph = to_graph(trace(loaded.module, specs), specs)
        verify_graph(graph)
        _check_batch_dimension(graph)
    say(f"traced: {len(graph)} nodes, {graph.parameter_count():,} parameters")
    with _stage("passes", seconds):
        names = opts.passes if opts.passes is not None else default_pipeline(opts.mode)
        graph, records = run_pipeline(graph, names, opts, log=say)
    final = with_output_head(graph, opts.output)
    backend = get_backend("llvm", opts.cpu)
    with _stage("codegen", seconds), error_context("JIT compilation"):
        native = backend.jit(final, make_abi(JIT_PREFIX, final, specs, {}), opts.output.kind)
        raw = backend.jit(graph, make_abi(JIT_PREFIX, graph, specs, {}), "raw")
    with _stage("verify", seconds), error_context("verifying against the network"):
        fidelity = _verify(loaded, raw, native if final is not graph else None, specs, opts)
    say(fidelity.summary())
    ops = sum(1 for n in final.nodes() if n.op not in (Op.INPUT, Op.CONST))
    report = Report(opts.mode, str(opts.output), records, fidelity, seconds,
                    {"ops": ops, "params": final.parameter_count()})
    check(fidelity, opts.accept_mismatch)
    return Artifact(final, specs, opts, report, native)


def parse_inputs(inputs: Sequence[Any] | Mapping[str, Any]) -> list[InputSpec]:
    """Spec strings, InputSpecs, or {name: spec string | samples} → InputSpecs."""
    if isinstance(inputs, (str, InputSpec)):
        inputs = [inputs]
    items = list(inputs.items()) if isinstance(inputs, Mapping) else [(None, v) for v in inputs]
    specs = []
    for name, value in items:
        if isinstance(value, InputSpec):
            specs.append(value)
        elif isinstance(value, str):
            text = value if name is None or value.startswith(name) else f"{name}{value}"
            specs.append(parse_spec(text))
        elif name is not None:
            specs.append(calibration_spec(name, value))
        else:
            raise InputError(f"input {value!r} is not a spec",
                             hint="pass spec strings, or {name: samples} for calibration data")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"input names repeat: {names}", hint="give each input its own name")
    return specs


def with_output_head(graph: Graph, output: OutputSemantics) -> Graph:
    """The graph with the requested decision appended: argmax over the last axis, or > threshold."""
    if output.kind == "raw":
        return graph
    headed = graph.copy()
    (name,) = headed.outputs
    node = headed[name]
    if output.kind == "argmax":
        if len(node.shape) < 2:
            raise InputError(f"--output argmax needs class scores; the model outputs {node.shape}")
        head = headed.add(Op.ARGMAX, [name], {"dims": (len(node.shape) - 1,), "keepdim": False},
                          name="decision")
    else:
        threshold = headed.add(Op.CONST, value=_scalar(output.threshold), name="threshold")
        head = headed.add(Op.GT, [name, threshold], name="decision")
    headed.outputs = [head]
    verify_graph(headed, after="output head")
    return headed


def _scalar(value: float | None) -> Any:
    import torch

    return torch.tensor(float(value or 0.0), dtype=torch.float64)


def _check_batch_dimension(graph: Graph) -> None:
    shape = graph[graph.outputs[0]].shape
    if not shape or shape[0] != 1:
        raise InputError(
            f"the model's output has shape {shape} for a batch of one; nnc needs the batch "
            "dimension first",
            hint="make forward() return one row per input sample",
        )


def _verify(loaded: LoadedModel, raw: NativeFunction, decide: NativeFunction | None,
            specs: list[InputSpec], opts: Options) -> Fidelity:
    """Run network and compiled code on the domain (all of it when small and discrete)."""
    domain = Domain(specs)
    points, complete = domain.points(opts.enumerate_limit, opts.samples, opts.seed)
    network = run_model(loaded.module, points, loaded.static_batch)
    x = _flat(points)
    values = raw.run(x).reshape(len(network), *raw.output.shape)
    decisions = None
    if decide is not None:
        decisions = decide.run(x).reshape(len(network), *decide.output.shape)
    tolerance = opts.tolerance or default_tolerance(raw.output.dtype)
    return measure(network, values, decisions, opts.output, tolerance, domain.size(), complete)


def _flat(points: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([p.reshape(len(p), -1).astype(np.float64) for p in points], axis=1)


@contextmanager
def _stage(name: str, seconds: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
