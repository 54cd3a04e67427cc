"""nnc.compile: load → trace → passes → backend → verify → Artifact. Wiring only, no logic."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from nnc.backends.guard import check_outside
from nnc.passes import default_pipeline
from nnc.passes.distill import module_nodes
from nnc.passes.units import unit_node

from .artifact import Artifact
from .closed_form import closed_form_text, is_closed_form
from .comparison import compare, size_of
from .errors import FidelityError, InputError, error_context
from .exhaustive import check_exhaustively, exhaustive_limit
from .fanout import Fanout, open_fanout
from .fidelity import Gate, check
from .frontend import to_graph, trace
from .graph import Graph
from .limits import check_input_elements, check_parameters, check_points
from .modelfile import load_model
from .native import JitCompiler
from .ops import Op
from .options import Options, OutputSemantics, debug_level, make_options, parse_output
from .pipeline import Setting, check_pass_names, dump_graph, run_pipeline, shows_graph
from .progress import Progress, live_display
from .reference import (
    VERIFY_BYTES,
    Reference,
    affordable_samples,
    discrete_problem,
    reference_run,
)
from .report import Report
from .spec_grammar import parse_inputs
from .torch_model import EXPORT_LOCK, model_gradient
from .verification import VerificationPoints, check_against_reference
from .verify import verify_graph

__all__ = ["compile", "with_output_head"]


def compile(
    model: Any,
    inputs: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    labels: tuple[Any, Any] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Progress | None = None,
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
        Receives what the debug level and ``print_after`` ask for (``nnc.options.DEBUG_LEVELS``);
        without one, those lines go to stderr. At level 0 nothing is logged.
    progress : nnc.progress.Progress, optional
        Receives the running stages, passes and searches; the caller draws it. Without one,
        nnc draws its own live display on stderr when that is a terminal (not with quiet=True).
    **options
        See ``nnc.options.Options``: mode, output ("raw", "argmax", "threshold=0.5"), passes,
        trust, enumerate_limit, samples, seed, tolerance, accept_mismatch, cpu, quiet, debug (0-4,
        ``nnc.options.DEBUG_LEVELS``; default NNC_DEBUG), print_after (pass names or "all"),
        units (modules or MODULE.NODE whose every unit gets a verified formula), workers
        (local processes for independent searches and checks; default one per core, 1 runs
        everything here), cluster (a Dask scheduler address to run them on instead).

    Returns
    -------
    Artifact
        Callable on numpy arrays or torch tensors; ``.report``; ``.save("algo.so")``.
    """
    if "debug" not in options:
        options["debug"] = debug_level(os.environ.get("NNC_DEBUG"))
    opts = make_options(**options)
    check_pass_names(opts.passes or ())
    say = log or (_stderr if opts.debug or opts.print_after else lambda line: None)
    with EXPORT_LOCK:  # NOTE: one compile at a time in a process: see torch_model.EXPORT_LOCK
        if progress is not None:
            return _compile(model, inputs, labels, say, progress, opts, options)
        progress = Progress()
        with live_display(progress, enabled=not opts.quiet):
            return _compile(model, inputs, labels, say, progress, opts, options)


def _compile(
    model: Any,
    inputs: Sequence[Any] | Mapping[str, Any] | None,
    labels: tuple[Any, Any] | None,
    say: Callable[[str], None],
    progress: Progress,
    opts: Options,
    options: dict[str, Any],
) -> Artifact:
    seconds: dict[str, float] = {}

    def stage(name: str) -> Any:
        return _stage(name, seconds, progress)

    with stage("load"), error_context("loading the model"):
        loaded = load_model(model, opts.trust)
        if inputs is None and not loaded.inputs:
            raise InputError(
                "no input spec given",
                hint="pass inputs=['x:float[3]=1..3'] (CLI: --input 'x:float[3]=1..3')",
            )
        specs = parse_inputs(inputs if inputs is not None else loaded.inputs)
        if "output" not in options and loaded.output:
            opts = make_options(**{**options, "output": parse_output(loaded.output)})
        check_input_elements(specs, opts)
        check_points(specs, opts)
        check_outside(specs, opts.outside)
    with stage("trace"), error_context("tracing the model"):
        graph = to_graph(trace(loaded.module, specs), specs)
        check_parameters(graph.parameter_count(), opts)
        verify_graph(graph)
        _check_batch_dimension(graph)
        for module in opts.symbolic:
            module_nodes(graph, module)  # an unknown module name is an error in every mode
        for target in opts.units:
            unit_node(graph, target)
    if opts.debug >= 1:
        say(f"traced: {len(graph)} nodes, {graph.parameter_count():,} parameters")
    loaded.sample_bytes = _sample_bytes(graph)
    samples = affordable_samples(specs, opts)
    if samples < opts.samples and opts.debug >= 1:
        say(
            f"verification samples: {samples} (not {opts.samples}): a sample is "
            f"{sum(s.numel for s in specs) * 8:,} bytes as doubles and the points are held "
            f"within {VERIFY_BYTES >> 20} MB"
        )
    graph = with_output_head(graph, opts.output)
    if shows_graph(opts, "front end"):
        say(dump_graph(graph, "front end"))
    with open_fanout(opts) as fanout:
        artifact = _search_and_verify(
            graph, loaded, specs, opts, labels, say, progress, seconds, fanout
        )
    approximate = any(record.approximate for record in artifact.report.passes)
    check(artifact.report.fidelity, opts.accept_mismatch, approximate)
    return artifact


def _search_and_verify(
    traced: Graph,
    loaded: Any,
    specs: list[Any],
    opts: Options,
    labels: tuple[Any, Any] | None,
    say: Callable[[str], None],
    progress: Progress,
    seconds: dict[str, float],
    fanout: Fanout,
) -> Artifact:
    """The network's reference answers, the passes, native code, its verification and the
    report: the stages that fan work out."""
    graph = traced

    def stage(name: str) -> Any:
        return _stage(name, seconds, progress)

    with stage("reference"), error_context("running the network on the domain"):
        reference = reference_run(loaded, specs, opts)
    problem = None
    if opts.mode != "exact":
        problem = discrete_problem(reference, specs, opts, graph[graph.outputs[0]].dtype)
    gate = Gate.from_options(opts)
    compile_native = JitCompiler(opts.cpu, opts.precision, opts.outside)
    differentiable = all(not s.integer for s in specs)

    network = loaded.run

    def gradient(points: list[Any]) -> Any:
        return model_gradient(loaded.module, points, loaded.static_batch)

    setting = Setting(
        opts,
        gate,
        specs,
        dataclasses.replace(compile_native, quick=True),  # the passes run their code once
        network=network,
        gradient=gradient if differentiable else None,
        reference=reference,
        discrete=problem,
        fanout=fanout,
    )
    with _stage("passes", seconds):
        names = (
            opts.passes
            if opts.passes is not None
            else default_pipeline(opts.mode, explain_units=bool(opts.units))
        )
        if opts.units and "units" not in names:
            raise InputError(
                f"units {list(opts.units)} are asked for, but the passes "
                f"({', '.join(names)}) do not include units",
                hint="add units to --passes, or leave --passes out",
            )
        graph, records = run_pipeline(graph, names, setting, say, progress)
    closed_form = is_closed_form(graph)
    approximate = any(r.approximate for r in records)
    if opts.mode == "symbolic" and not closed_form:
        raise FidelityError(
            "mode symbolic: no closed form passed the gate for every output",
            hint="see the pass notes (--json), raise --sr-seconds, or use mode "
            "auto to keep the faithful network where no formula is found",
        )
    with stage("codegen"), error_context("JIT compilation"):
        native = compile_native(graph, specs, opts.output.kind)
    if opts.debug >= 4:
        for optimized in (False, True):
            state = "after" if optimized else "before"
            say(
                f"--- LLVM IR {state} optimisation ---\n{compile_native.ir(graph, specs, optimized)}"
            )
    with stage("verify"), error_context("verifying against the network"):
        fidelity = check_against_reference(
            graph, native, compile_native, reference, specs, opts, gate, approximate
        )
        if _streams(reference, exhaustive_limit(opts, fanout)):
            if opts.debug >= 1:
                say(f"checking all {reference.domain_size:,} points, on {fanout.describe()}")
            everywhere = check_exhaustively(
                graph, traced, specs, compile_native, opts, gate, approximate, fanout
            )
            fidelity = everywhere if fidelity.passed else fidelity
    if opts.debug >= 1:
        say(fidelity.summary())
    with stage("compare"), error_context("comparing the artifact with the network"):
        compared = compare(traced, graph, native, reference, specs, opts.output, network, labels)
    size = {"network": size_of(traced), "artifact": size_of(graph)}
    report = Report(
        opts.mode,
        str(opts.output),
        records,
        fidelity,
        seconds,
        {"ops": size["artifact"]["ops"], "params": size["artifact"]["params"]},
        closed_form_text(graph),
        compared.truth,
        inputs=[s.text or f"{s.name}: {s.numel} elements from calibration data" for s in specs],
        outputs=compared.outputs,
        size=size,
        speed=compared.speed,
        gate={"rmse": gate.rmse, "max": gate.max},
        curves=compared.curves,
        fanout={**fanout.to_json(), "exhaustive_limit": exhaustive_limit(opts, fanout)},
    )
    points = VerificationPoints(reference, gate, approximate)
    return Artifact(graph, specs, opts, report, native, points)


def _streams(reference: Reference, limit: int) -> bool:
    """A discrete domain too large to hold but within the exhaustive limit: checked in ranges."""
    size = reference.domain_size
    return not reference.complete and size is not None and size <= limit


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


def _sample_bytes(graph: Graph) -> int:
    """One sample's values in the network (every computed node as float32 at most once): an
    upper bound on what torch holds per sample while running it."""
    return 4 * sum(n.numel for n in graph.nodes() if n.op is not Op.CONST)


def _check_batch_dimension(graph: Graph) -> None:
    shape = graph[graph.outputs[0]].shape
    if not shape or shape[0] != 1:
        raise InputError(
            f"the model's output has shape {shape} for a batch of one; nnc needs the batch "
            "dimension first",
            hint="make forward() return one row per input sample",
        )


def _stderr(line: str) -> None:
    print(f"nnc: {line}", file=sys.stderr)


@contextmanager
def _stage(
    name: str, seconds: dict[str, float], progress: Progress | None = None
) -> Iterator[None]:
    """Time a stage of the compile (and show it as running, when it is not the passes: each pass
    shows itself)."""
    start = time.perf_counter()
    if progress is None:
        yield
    else:
        with progress.task(name):
            yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
