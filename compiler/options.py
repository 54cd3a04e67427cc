"""Every knob of a compile, validated before any work; unknown names get a did-you-mean."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from .errors import InputError

__all__ = [
    "DEBUG_LEVELS",
    "ENGINES",
    "MODES",
    "PRECISIONS",
    "Options",
    "OutputSemantics",
    "debug_level",
    "make_options",
    "parse_output",
]

MODES = ("auto", "exact", "symbolic")
ENGINES = ("operon", "pysr", "basis")  # symbolic-regression engines (nnc.passes.engines)
# network: float32 values compute in float32 (float64 in double); double: every float in double
PRECISIONS = ("network", "double")
# What the log shows at each NNC_DEBUG / debug= level; a level shows everything below it too.
DEBUG_LEVELS = {
    0: "nothing while it runs but the live display on a terminal; the summary afterwards states "
    "every record and note once (the default)",
    1: "each stage, and each pass's record and notes as it finishes (changed, ops, parameters, "
    "flops, time, counts, measured error), and tracebacks of errors",
    2: "the Graph after the front end and after every pass that changed it",
    3: "the closed forms in the Graph and the evidence each pass kept, after every pass",
    4: "the LLVM IR of the compiled graph, before and after optimisation",
}


@dataclass(frozen=True)
class OutputSemantics:
    """What the artifact returns: the network's raw output, its argmax class, or output > threshold."""

    kind: str  # raw | argmax | threshold
    threshold: float | None = None

    def __str__(self) -> str:
        return f"threshold={self.threshold:g}" if self.kind == "threshold" else self.kind

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"semantics": self.kind}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out


def parse_output(text: str | OutputSemantics) -> OutputSemantics:
    """'raw', 'argmax' or 'threshold=0.5'."""
    if isinstance(text, OutputSemantics):
        return text
    if text in ("raw", "argmax"):
        return OutputSemantics(text)
    if text.startswith("threshold="):
        try:
            return OutputSemantics("threshold", float(text.split("=", 1)[1]))
        except ValueError:
            pass
    raise InputError(
        f"output {text!r} is not understood",
        hint="use --output raw, --output argmax or --output threshold=0.5",
    )


@dataclass(frozen=True)
class Options:
    """Options of nnc.compile and the CLI, with their defaults."""

    # auto: closed forms where they pass verification, the faithful network elsewhere;
    # exact: compute what the network computes, to float rounding; symbolic: closed form or fail
    mode: str = "auto"
    output: OutputSemantics = OutputSemantics("raw")
    passes: tuple[str, ...] | None = None  # None: the default pipeline of the mode
    trust: bool = False  # allow loading a pickled whole module (runs arbitrary code)
    enumerate_limit: int = 1_000_000  # discrete domains up to this many points are checked entirely
    samples: int = 4096  # points sampled from a continuous (or larger) domain for verification
    seed: int = 0
    tolerance: float | None = None  # max relative error; None: 1e-5 for float32, 1e-9 for float64
    min_agreement: float = 0.999  # share of points where a synthesized program must match
    synth_seconds: float = 60.0  # time budget of the integer-program search
    symbolic: tuple[str, ...] = ()  # modules to distil into closed forms (e.g. "edge_model")
    # modules (or module.node) whose every output unit gets its own formula, for the report
    units: tuple[str, ...] = ()
    # independent searches and chunks of exhaustive checks run on this many local processes
    # (None: one per core; 1: in this process)
    workers: int | None = None
    cluster: str | None = None  # a Dask scheduler's address: fan out there instead
    engine: str = "operon"  # symbolic regression: operon (default), pysr or basis
    basis_too: bool = (
        True  # add the (fast, deterministic) basis engine's candidates to every search
    )
    # the engines' operators; also known: asin, acos, atan, sinh, cosh, tanh, abs, pow. Every
    # engine drops those the data cannot take (log and sqrt when no input is positive, ...)
    operators: tuple[str, ...] = (
        *("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "square"),
    )
    max_complexity: int = 25  # largest expression the engines may propose
    sr_seconds: float = 30.0  # time limit of each engine search: a safety net, see sr_evaluations
    sr_threads: int = 1  # engine threads; 1 keeps the search deterministic under a seed
    sr_max_inputs: int = (
        10  # whole-network regression when the inputs have at most this many elements
    )
    sr_samples: int = 2000  # space-filling training samples (as many again for validation)
    # The gate a closed form must pass against the network, on validation samples: RMSE relative
    # to the RMS of the network's output, and max error relative to its largest magnitude.
    gate_rmse: float = 1e-2
    gate_max: float = 5e-2
    # auto mode keeps a formula only when it is a law, not merely a fit that passes the gate;
    # True accepts the simplest fit that passes (mode symbolic always does; the report says so)
    approximate_formulas: bool = False
    # symbolic regression budget, in evaluations of candidate formulas per engine search (the
    # time limit sr_seconds is only a safety net, so a seed gives the same formula anywhere)
    sr_evaluations: int = 100_000
    # approximate pruning (auto, symbolic): max |error| / largest |output| on validation points
    prune_budget: float = 1e-3
    accept_mismatch: bool = False  # keep an artifact that fails verification (the report says so)
    cpu: str = "host"  # "host" (fastest here) or "generic" (a library that runs on any x86-64)
    # "network": the network's own precision (float32 layers in float32); "double": every float
    # value in double, as nnc computed before (slower, further from torch's own rounding)
    precision: str = "network"
    quiet: bool = False
    debug: int = 0  # what the log shows: a level of DEBUG_LEVELS (NNC_DEBUG when not given)
    # passes after which the log shows the Graph ("all": the front end and every pass)
    print_after: tuple[str, ...] = ()


def make_options(**given: Any) -> Options:
    """Validated Options from keyword arguments."""
    names = [f.name for f in dataclasses.fields(Options)]
    for key in given:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known options: {', '.join(names)}"
            raise InputError(f"unknown option {key!r}", hint=hint)
    if "output" in given:
        given["output"] = parse_output(given["output"])
    for key in ("passes", "operators", "symbolic", "units", "print_after"):
        if isinstance(given.get(key), str):
            given[key] = tuple(p.strip() for p in given[key].split(",") if p.strip())
        elif isinstance(given.get(key), list):
            given[key] = tuple(given[key])
    options = Options(**given)
    if options.mode not in MODES:
        raise InputError(
            f"mode {options.mode!r} is not available", hint=f"choose one of: {', '.join(MODES)}"
        )
    if options.cpu not in ("host", "generic"):
        raise InputError(f"cpu {options.cpu!r} is not understood", hint="use 'host' or 'generic'")
    if options.precision not in PRECISIONS:
        raise InputError(
            f"precision {options.precision!r} is not understood",
            hint="use 'network' (the network's own float32/float64) or 'double'",
        )
    if options.workers is not None and not (
        isinstance(options.workers, int) and options.workers >= 1
    ):
        raise InputError(
            f"workers {options.workers!r} must be a whole number ≥ 1",
            hint="workers=1 runs everything in this process; leave it unset for one per core",
        )
    if options.samples < 1 or options.enumerate_limit < 1:
        raise InputError("samples and enumerate_limit must be at least 1")
    if options.engine not in ENGINES:
        close = difflib.get_close_matches(options.engine, list(ENGINES), n=1)
        raise InputError(
            f"unknown engine {options.engine!r}",
            hint=f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(ENGINES)}",
        )
    if options.sr_evaluations < 1:
        raise InputError(f"sr_evaluations {options.sr_evaluations!r} must be at least 1")
    if not options.prune_budget >= 0:
        raise InputError(f"prune_budget {options.prune_budget!r} must be ≥ 0")
    if not 0 < options.min_agreement <= 1:
        raise InputError(f"min_agreement {options.min_agreement!r} must be in (0, 1]")
    if options.tolerance is not None and not options.tolerance > 0:
        raise InputError(f"tolerance {options.tolerance!r} must be a positive number")
    if options.debug not in DEBUG_LEVELS:
        raise InputError(
            f"debug level {options.debug!r} is not available",
            hint=f"use a level from {min(DEBUG_LEVELS)} to {max(DEBUG_LEVELS)}",
        )
    return options


def debug_level(text: str | None) -> int:
    """The level NNC_DEBUG asks for: unset or empty is 0, otherwise one of DEBUG_LEVELS."""
    if not text:
        return 0
    if not (text.strip().isdigit() and int(text) in DEBUG_LEVELS):
        raise InputError(
            f"NNC_DEBUG={text!r} is not a debug level",
            hint=f"set NNC_DEBUG to a level from {min(DEBUG_LEVELS)} to {max(DEBUG_LEVELS)} "
            "(README: Debugging)",
        )
    return int(text)
