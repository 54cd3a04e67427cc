"""One workload end to end: compile it with nnc, build every runtime, cross-check their outputs,
then time them all in interleaved rounds. Returns the workload's JSON-ready record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nnc
import numpy as np

from .analysis import CTYPES_SCALAR, SCALAR, workload_ratios
from .c_driver import Driver, compile_shared
from .columns import run_columns
from .inline_c import run_inline
from .measure import Probe, calibrate, run_rounds, summarize
from .peak import MachinePeak
from .runtimes import (
    Inputs,
    Runtime,
    Skipped,
    aot_inductor,
    c_loops,
    ctypes_floor,
    ctypes_scalar,
    nnc_python,
    nnc_scalar,
    onnx_runtime,
    torch_compiled,
    torch_eager,
)
from .settings import NNC_RUNTIMES, Settings
from .workloads import Workload, multiply_adds, weight_bytes

__all__ = ["compile_with_nnc", "run_workload"]

Log = Callable[[str], None]


def run_workload(
    workload: Workload,
    settings: Settings,
    workdir: Path,
    log: Log,
    machine: MachinePeak | None = None,
) -> dict[str, Any]:
    """Compile, build the runtimes, check they agree, time them interleaved (with the machine's
    peak loops, when given), compute the ratios. A model nnc cannot compile yet is still timed on
    the other runtimes. Binaries go to workdir/PREFIX/: a library loaded in this process is never
    overwritten."""
    workdir = workdir / workload.prefix
    workdir.mkdir()

    def say(line: str) -> None:
        log(f"[{workload.name}] {line}")

    for note in workload.notes:
        say(note)
    say("nnc.compile ...")
    art, compiled = compile_with_nnc(workload)
    library = workdir / f"{workload.prefix}.so"
    if art is None:
        say(f"not compiled: {compiled['error']}")
    else:
        start = time.perf_counter()
        art.save(library)
        compiled["save_seconds"] = time.perf_counter() - start
        form = compiled["closed_form"]
        say(
            f"compiled in {compiled['seconds']:.2f} s (mode {compiled['mode']}, "
            f"{'closed form ' + form if form else 'no closed form'}), saved {library.name} in "
            f"{compiled['save_seconds']:.2f} s"
        )
    inputs = Inputs.of(workload.sample(workload.batch or settings.batch), workload.integer)
    built = _build_runtimes(workload, art, library, inputs, settings, workdir, say)
    runtimes = [r for r in built if isinstance(r, Runtime)]
    skipped = {r.name: r.reason for r in built if isinstance(r, Skipped)}
    checks = _cross_check(runtimes, compiled["output"] not in ("raw", None))
    probes = [
        Probe(r.name, kind, timer, 1 if kind == "single" else len(inputs))
        for r in runtimes
        for kind, timer in (("single", r.single), ("batch", r.batch))
        if timer is not None
    ]
    probes += machine.probes(weight_bytes(workload.model)) if machine is not None else []
    say(f"calibrating {len(probes)} timers")
    for probe in probes:
        seconds = settings.single_seconds if probe.kind == "single" else settings.batch_seconds
        probe.calls = calibrate(probe.timer, seconds)
    say(f"timing {settings.repeats} interleaved rounds")
    raw = run_rounds(probes, settings.repeats, log)
    record: dict[str, Any] = {
        "name": workload.name,
        "prefix": workload.prefix,
        "batch": len(inputs),
        "notes": workload.notes,
        "compile": compiled,
        "runtimes": {r.name: _runtime_record(r, raw, probes, checks.get(r.name)) for r in runtimes},
        "skipped": skipped,
        "multiply_adds": multiply_adds(workload.model, inputs.tensor),
        "weight_bytes": weight_bytes(workload.model),
        "machine": machine.summarize(raw) if machine is not None else None,
    }
    record["ratios"] = workload_ratios(record)
    record["inline"] = (
        None
        if workload.reference is None
        else run_inline(
            library,
            art.abi(workload.prefix),
            workload.reference,
            inputs.flat,
            nnc.load(library).run(inputs.flat)[:, 0],  # what the library computes there
            settings,
            workdir,
            say,
        )
    )
    record["columns"] = (
        None
        if workload.columns is None or art is None
        else run_columns(library, workload.prefix, workload.columns, settings, workdir, say)
    )
    return record


def _runtime_record(
    runtime: Runtime,
    raw: dict[tuple[str, str], list[float]],
    probes: list[Probe],
    check: dict[str, Any] | None,
) -> dict[str, Any]:
    """Summaries of the runtime's repeats (None for a kind it has no timer for), and its check."""
    units = {"single": "ns/call", "batch": "ns/sample"}
    record: dict[str, Any] = {
        kind: summarize(raw[runtime.name, kind], unit) if (runtime.name, kind) in raw else None
        for kind, unit in units.items()
    }
    record["calls_per_repeat"] = {p.kind: p.calls for p in probes if p.runtime == runtime.name}
    record["note"] = runtime.note
    record["check"] = check
    return record


def compile_with_nnc(workload: Workload) -> tuple[nnc.Artifact | None, dict[str, Any]]:
    """nnc.compile, timed as a whole and (from its report) by stage and by pass; no artifact and
    the error's first line when nnc refuses the model (e.g. an op it does not support yet)."""
    start = time.perf_counter()
    try:
        art = nnc.compile(workload.source, workload.inputs, **workload.options)
    except nnc.NNCError as error:
        return None, {
            "seconds": time.perf_counter() - start,
            "error": f"{type(error).__name__}: {str(error).splitlines()[0]}",
            "mode": workload.options.get("mode", "auto"),
            "output": None,
            "closed_form": None,
        }
    seconds = time.perf_counter() - start
    report = art.report
    return art, {
        "seconds": seconds,
        "stages": dict(report.seconds),
        "passes": [{"name": r.name, "seconds": r.seconds} for r in report.passes],
        "mode": report.mode,
        "output": report.output,
        "closed_form": report.closed_form,
        "ops": report.graph.get("ops"),
        "params": report.graph.get("params"),
        "verification": report.fidelity.summary(),
    }


def _build_runtimes(
    workload: Workload,
    art: nnc.Artifact | None,
    library: Path,
    inputs: Inputs,
    settings: Settings,
    workdir: Path,
    say: Log,
) -> list[Runtime | Skipped]:
    """The runtimes the settings ask for, in display order; those that fail come back Skipped,
    nnc's own (and the hand-written C, which borrows nnc's ABI) when nnc did not compile."""
    wanted = set(settings.runtimes)
    built: list[Runtime | Skipped] = []
    if art is None:
        missing = ["nnc art(x)", "nnc.load", "nnc C"] + (["hand C"] if workload.reference else [])
        built += [Skipped(n, "nnc did not compile the model") for n in missing if n in wanted]
        wanted -= set(NNC_RUNTIMES)
    if "ctypes abs()" in wanted:
        built.append(ctypes_floor())
    if "torch" in wanted:
        built.append(torch_eager(workload.model, inputs))
    if "torch.compile" in wanted:
        say("torch.compile ...")
        built.append(torch_compiled(workload.model, inputs))
    if "AOTInductor" in wanted:
        say("AOTInductor ...")
        built.append(aot_inductor(workload.model, inputs, workdir))
    if "onnxruntime" in wanted:
        built.append(onnx_runtime(workload.model, inputs, workdir / f"{workload.prefix}.onnx"))
    if "nnc art(x)" in wanted:
        built.append(nnc_python("nnc art(x)", art, inputs, "the artifact's JIT callable"))
    if "nnc.load" in wanted:
        built.append(
            nnc_python("nnc.load", nnc.load(library), inputs, f"nnc.load('{library.name}'): cffi")
        )
    if SCALAR in wanted:
        built.append(nnc_scalar(SCALAR, art, art.abi(workload.prefix), inputs))
    if CTYPES_SCALAR in wanted:
        built.append(ctypes_scalar(CTYPES_SCALAR, library, art.abi(workload.prefix), inputs))
    if wanted & {"nnc C", "nnc C typed", "nnc C scalar", "nnc C threads=1", "nnc C threads=2"}:
        driver = Driver(library, art.abi(workload.prefix), workdir, entries=True)
        built += c_loops("nnc", driver, inputs)
    if workload.reference is not None and wanted & {"hand C", "hand C scalar"}:
        prefix = workload.reference.prefix
        hand = compile_shared(workload.reference.source, workdir / f"{prefix}.so")
        abi = dataclasses.replace(art.abi(workload.prefix), prefix=prefix)  # the same ABI
        built += c_loops("hand", Driver(hand, abi, workdir), inputs)
    built = [r for r in built if r.name in wanted or isinstance(r, Skipped)]  # c_loops: scalar too
    for runtime in built:
        say(
            f"{runtime.name}: {runtime.note}"
            if isinstance(runtime, Runtime)
            else f"{runtime.name}: skipped, {runtime.reason}"
        )
    return built


def _cross_check(runtimes: list[Runtime], discrete: bool) -> dict[str, dict[str, Any]]:
    """Each runtime's batch output against torch's (the network): catches a runtime computing
    something else. Decisions: the share that differ; values: max |diff| / max |torch|."""
    outputs = {r.name: r.output() for r in runtimes if r.output is not None}
    if "torch" not in outputs:
        return {}
    network = outputs["torch"]
    checks = {}
    for name, output in outputs.items():
        if output.shape != network.shape:
            checks[name] = {"against": "torch", "error": f"shape {output.shape} != {network.shape}"}
        elif discrete:
            checks[name] = {"against": "torch", "mismatch_share": float(np.mean(output != network))}
        else:
            scale = float(np.max(np.abs(network))) or 1.0
            checks[name] = {
                "against": "torch",
                "max_rel_diff": float(np.max(np.abs(output - network))) / scale,
            }
    return checks
