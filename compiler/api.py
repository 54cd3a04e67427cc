"""nnc.compile: load → trace → passes → backend → verify → Artifact. Wiring only, no logic."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from nnc.backends import get_backend
from nnc.backends.calling import NativeFunction
from nnc.passes import default_pipeline

from .artifact import JIT_PREFIX, Artifact, make_abi
from .closed_form import closed_form_text, is_closed_form
from .errors import FidelityError, InputError, error_context
from .fidelity import Fidelity, check, default_tolerance, measure, run_model
from .frontend import to_graph, trace
from .graph import Graph
from .modelfile import load_model
from .ops import Op
from .options import Options, OutputSemantics, make_options, parse_output
from .pipeline import run_pipeline
from .reference import Reference, discrete_problem, reference_run
from .report import Report
from .rewrite import remove_dead
from .spec import InputSpec, abi_rows, calibration_spec, parse_spec
from .verify import verify_graph

__all__ = ["compile", "parse_inputs", "with_output_head"]


def compile(
    model: Any,
    inputs: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    labels: tuple[Any, Any] | None = None,
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
    labels : (inputs, outputs), optional
        Ground truth: inputs as the model takes them (an array, or a list per input, batch
        first) and the true outputs. The report then gives the error of the network and of the
        artifact against it.
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
            raise InputError(
                "no input spec given",
                hint="pass inputs=['x:float[3]=1..3'] (CLI: --input 'x:float[3]=1..3')",
            )
        specs = parse_inputs(inputs if inputs is not None else loaded.inputs)
        if "output" not in options and loaded.output:
            opts = make_options(**{**options, "output": parse_output(loaded.output)})
    with _stage("trace", seconds), error_context("tracing the model"):
        graph = to_graph(trace(loaded.module, specs), specs)
        verify_graph(graph)
        _check_batch_dimension(graph)
    say(f"traced: {len(graph)} nodes, {graph.parameter_count():,} parameters")
    graph = with_output_head(graph, opts.output)
    with _stage("reference", seconds), error_context("running the network on the domain"):
        reference = reference_run(loaded, specs, opts)
    problem = None
    if opts.mode != "exact":
        problem = discrete_problem(reference, specs, opts, graph[graph.outputs[0]].dtype)
    with _stage("passes", seconds):
        names = opts.passes if opts.passes is not None else default_pipeline(opts.mode)
        graph, records = run_pipeline(
            graph,
            names,
            opts,
            log=say,
            discrete=problem,
            specs=specs,
            points=reference.flat if problem is not None else None,
            network=lambda points: run_model(loaded.module, points, loaded.static_batch),
        )
    closed_form = is_closed_form(graph)
    approximate = any(r.approximate for r in records)
    if opts.mode == "symbolic" and not closed_form:
        raise FidelityError(
            "mode symbolic: no closed form passed the gate for every output",
            hint="see the pass notes (--json), raise --sr-seconds, or use mode "
            "auto to keep the faithful network where no formula is found",
        )
    with _stage("codegen", seconds), error_context("JIT compilation"):
        native = get_backend("llvm", opts.cpu).jit(
            graph, make_abi(JIT_PREFIX, graph, specs, {}), opts.output.kind
        )
    with _stage("verify", seconds), error_context("verifying against the network"):
        fidelity = _verify(reference, graph, native, specs, opts, approximate)
    say(fidelity.summary())
    truth = _against_labels(labels, loaded, native) if labels is not None else None
    ops = sum(1 for n in graph.nodes() if n.op not in (Op.INPUT, Op.CONST))
    report = Report(
        opts.mode,
        str(opts.output),
        records,
        fidelity,
        seconds,
        {"ops": ops, "params": graph.parameter_count()},
        closed_form_text(graph),
        truth,
    )
    check(fidelity, opts.accept_mismatch)
    return Artifact(graph, specs, opts, report, native)


def _against_labels(
    labels: tuple[Any, Any], loaded: Any, native: NativeFunction
) -> dict[str, float]:
    """Max and RMS error of the network and of the compiled artifact against labelled data."""
    inputs, truth = labels
    points = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    truth = np.asarray(truth, dtype=np.float64)
    network = run_model(loaded.module, points, loaded.static_batch).reshape(truth.shape)
    compiled = native.run(abi_rows(points)).reshape(truth.shape)
    scale = float(np.abs(truth).max()) or 1.0
    return {
        f"{who}_{what}": value
        for who, values in (("network", network), ("artifact", compiled))
        for what, value in (
            ("max_rel_error", float(np.abs(values - truth).max()) / scale),
            ("rmse", float(np.sqrt(np.mean((values - truth) ** 2)))),
        )
    }


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
            raise InputError(
                f"input {value!r} is not a spec",
                hint="pass spec strings, or {name: samples} for calibration data",
            )
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
        head = headed.add(
            Op.ARGMAX, [name], {"dims": (len(node.shape) - 1,), "keepdim": False}, name="decision"
        )
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


def _verify(
    reference: Reference,
    graph: Graph,
    native: NativeFunction,
    specs: list[InputSpec],
    opts: Options,
    approximate: bool,
) -> Fidelity:
    """Run the compiled code on the reference points and compare with the network's outputs:
    to float rounding when every pass was exact, within the gate when a rewrite approximated."""
    closed_form = is_closed_form(graph)
    x = reference.flat
    n = len(reference.network)
    outputs = native.run(x).reshape(n, *native.output.shape)
    tolerance = opts.tolerance or (
        opts.gate_max if approximate else default_tolerance(graph[graph.outputs[0]].dtype)
    )
    required = math.ceil(opts.min_agreement * n) if approximate else None

    def compare(raw: np.ndarray | None, decisions: np.ndarray | None) -> Fidelity:
        return measure(
            reference.network,
            raw,
            decisions,
            opts.output,
            tolerance,
            reference.domain_size,
            reference.complete,
            required if decisions is not None else None,
            x,
        )

    if opts.output.kind == "raw":
        if closed_form and not graph[graph.outputs[0]].dtype.startswith("float"):
            return compare(None, outputs)  # an integer program: exact values, point by point
        return compare(outputs, None)
    raw = None
    if not closed_form:  # the faithful network under a decision head: check its raw values too
        scores = graph.copy()
        scores.outputs = [graph[graph.outputs[0]].inputs[0]]
        remove_dead(scores)
        raw_native = get_backend("llvm", opts.cpu).jit(
            scores, make_abi(JIT_PREFIX, scores, specs, {}), "raw"
        )
        raw = raw_native.run(x).reshape(reference.network.shape)
    return compare(raw, outputs)


@contextmanager
def _stage(name: str, seconds: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
