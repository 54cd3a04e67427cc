"""Every knob of a compile, validated before any work: its type, its range, its known names;
unknown names get a did-you-mean. The resource limits are options too, so every error that
names one says how to raise it."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .physical_units import parse_unit

__all__ = [
    "DEBUG_LEVELS",
    "ENGINES",
    "LIMITS",
    "MODES",
    "OPERATORS",
    "OUTSIDE",
    "PRECISIONS",
    "Options",
    "OutputSemantics",
    "debug_level",
    "make_options",
    "parse_output",
]

MODES = ("auto", "exact", "symbolic")
OUTSIDE = ("check", "clamp", "allow")  # what a library does outside its domain (backends/guard.py)
ENGINES = ("operon", "pysr", "basis")  # symbolic-regression engines (nnc.passes.engines)
# network: float32 values compute in float32 (float64 in double); double: every float in double
PRECISIONS = ("network", "double")
# operators the engines know (nnc.passes.engines map them to their own names)
OPERATORS = (
    "add",
    "sub",
    "mul",
    "div",
    "sin",
    "cos",
    "exp",
    "log",
    "sqrt",
    "tanh",
    "pow",
    "square",
    "abs",
)
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
    """'raw', 'argmax' or 'threshold=0.5' (a finite threshold)."""
    if isinstance(text, OutputSemantics):
        return text
    if text in ("raw", "argmax"):
        return OutputSemantics(text)
    if isinstance(text, str) and text.startswith("threshold="):
        try:
            threshold = float(text.split("=", 1)[1])
        except ValueError:
            threshold = math.nan
        if math.isfinite(threshold):
            return OutputSemantics("threshold", threshold)
    raise InputError(
        f"output {str(text)[:80]!r} is not understood",
        hint="use --output raw, --output argmax or --output threshold=0.5 (a finite number)",
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
    # the physical unit of each output element (one unit: every element), e.g. ("N",); with units
    # on every free input (spec 'm:float=1..5 kg') the law is searched in dimensionless groups
    output_units: tuple[str, ...] = ()
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
    # what the library's entries do with a sample outside the verified domain: check (the
    # sentinel, NaN or -1, and a count), clamp (into the domain's box), allow (nothing: fastest)
    outside: str = "check"
    quiet: bool = False
    debug: int = 0  # what the log shows: a level of DEBUG_LEVELS (NNC_DEBUG when not given)
    # passes after which the log shows the Graph ("all": the front end and every pass)
    print_after: tuple[str, ...] = ()
    # Resource limits, checked before nnc allocates for them (see LIMITS); raise them at will.
    max_input_elements: int = 1_000_000  # scalars in one sample, over all inputs
    max_points_bytes: int = 4 << 30  # memory for the domain points nnc runs the network on
    max_parameters: int = 100_000_000  # weights of the traced model (codegen memory grows with it)


# What each resource limit bounds, for the error that names it.
LIMITS = {
    "max_input_elements": "scalars in one input sample",
    "max_points_bytes": "bytes of domain points",
    "max_parameters": "model parameters",
}

_Check = Callable[[Any], bool]
# option → (what its value must be, the check); options without a row take any value of their type
_RANGES: dict[str, tuple[str, _Check]] = {
    "enumerate_limit": ("at least 1", lambda v: v >= 1),
    "samples": ("at least 1", lambda v: v >= 1),
    "workers": ("at least 1 (1: in this process; None: one per core)", lambda v: v >= 1),
    "tolerance": ("a positive number", lambda v: v is None or v > 0),
    "min_agreement": ("in (0, 1]", lambda v: 0 < v <= 1),
    "synth_seconds": ("a positive number of seconds", lambda v: v > 0),
    "sr_seconds": ("a positive number of seconds", lambda v: v > 0),
    "sr_evaluations": ("at least 1", lambda v: v >= 1),
    "max_complexity": ("at least 1", lambda v: v >= 1),
    "sr_threads": ("at least 1", lambda v: v >= 1),
    "sr_max_inputs": ("at least 0", lambda v: v >= 0),
    "sr_samples": ("at least 2", lambda v: v >= 2),
    "gate_rmse": ("a positive number", lambda v: v > 0),
    "gate_max": ("a positive number", lambda v: v > 0),
    "prune_budget": ("at least 0", lambda v: v >= 0),
    "seed": ("from 0 to 2**63 - 1", lambda v: 0 <= v < 2**63),
    "debug": (
        f"a level from {min(DEBUG_LEVELS)} to {max(DEBUG_LEVELS)}",
        lambda v: v in DEBUG_LEVELS,
    ),
    **{name: ("at least 1", lambda v: v >= 1) for name in LIMITS},
}
# option → the names it may take (tuples of names are checked name by name)
_CHOICES: dict[str, tuple[str, ...]] = {
    "mode": MODES,
    "engine": ENGINES,
    "cpu": ("host", "generic"),
    "outside": OUTSIDE,
    "precision": PRECISIONS,
    "operators": OPERATORS,
}
_FIELDS = {f.name: f for f in dataclasses.fields(Options)}
_HINTS = typing.get_type_hints(Options)


def make_options(**given: Any) -> Options:
    """Validated Options from keyword arguments."""
    for key in given:
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"known options: {', '.join(_FIELDS)}"
            )
            raise InputError(f"unknown option {key!r}", hint=hint)
    values = {key: _typed(key, value) for key, value in given.items()}
    for key, value in values.items():
        _check_range(key, value)
        _check_choices(key, value)
    for unit in values.get("output_units", ()):
        parse_unit(
            unit, "option output_units"
        )  # an InputError naming the unit and what is accepted
    return Options(**values)


def _typed(key: str, value: Any) -> Any:
    """The value in the option's type, or an InputError naming the type it needs."""
    hint = _HINTS[key]
    if key == "output":
        return parse_output(value)
    if value is None and _allows_none(hint):
        return None
    if hint is bool and isinstance(value, bool):
        return value
    if (
        hint in (int, int | None)
        and _is_number(value)
        and (isinstance(value, int) or _whole(value))
    ):
        return int(value)
    if hint in (float, float | None) and _is_number(value) and _finite(value):
        return float(value)
    if isinstance(value, str) and hint in (str, str | None):
        return value
    if _allows_names(hint):
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise InputError(
        f"option {key}={repr(value)[:80]} is not {_TYPE_NAMES.get(hint, 'of the right type')}",
        hint=f"the default is {_FIELDS[key].default!r}",
    )


_TYPE_NAMES = {
    bool: "True or False",
    int: "a whole number",
    int | None: "a whole number or None",
    float: "a finite number",
    float | None: "a finite number or None",
    str: "a name",
    str | None: "a name or None",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: float) -> bool:
    return math.isfinite(value) and value.is_integer()


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _allows_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _allows_names(hint: Any) -> bool:
    return hint in (tuple[str, ...], tuple[str, ...] | None)


def _check_range(key: str, value: Any) -> None:
    if key not in _RANGES or value is None:
        return
    needed, check = _RANGES[key]
    if not check(value):
        raise InputError(
            f"option {key}={repr(value)[:80]} must be {needed}",
            hint=f"the default is {_FIELDS[key].default!r}",
        )


def _check_choices(key: str, value: Any) -> None:
    if key not in _CHOICES:
        return
    known = _CHOICES[key]
    for name in value if isinstance(value, tuple) else (value,):
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            raise InputError(
                f"unknown {key.rstrip('s')} {name!r}",
                hint=f"did you mean {close[0]!r}?" if close else f"choose from: {', '.join(known)}",
            )


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
