"""Symbolic-regression engines behind one interface: fit(X, y) → candidate sympy expressions.

operon  pyoperon (default; runs offline)
pysr    PySR (optional extra nnc[pysr]; needs Julia)
basis   sparse regression over a library of candidate terms (deterministic, fast)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import sympy
from nnc.errors import InputError

__all__ = ["ENGINES", "Candidate", "Engine", "SearchSettings", "get_engine", "prepare"]


@dataclass(frozen=True)
class Candidate:
    """One expression an engine proposes, with the engine's own complexity and training loss."""

    expr: sympy.Expr
    complexity: int
    loss: float


@dataclass(frozen=True)
class SearchSettings:
    """What every engine honours: operators, size limit, evaluation budget (time only as a safety
    net), threads and seed."""

    operators: tuple[str, ...] = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt")
    max_complexity: int = 25
    seconds: float = 30.0
    threads: int = 1
    seed: int = 0
    evaluations: int = 100_000


# operators whose argument must be positive, and those whose argument must lie in [-1, 1]
_NEEDS_POSITIVE = {"log", "sqrt"}
_NEEDS_UNIT = {"asin", "acos"}


def prepare(settings: SearchSettings, X: np.ndarray) -> SearchSettings:
    """The same preparation for every engine: operators that cannot apply anywhere on the data
    are dropped (log and sqrt when no variable is positive, asin and acos when none lies in
    [-1, 1]), so no engine spends its budget on formulas undefined on the domain."""
    positive = bool(np.any(X.min(axis=0) > 0)) if X.size else False
    unit = bool(np.any(np.abs(X).max(axis=0) <= 1)) if X.size else False
    operators = tuple(
        o
        for o in settings.operators
        if (o not in _NEEDS_POSITIVE or positive) and (o not in _NEEDS_UNIT or unit)
    )
    return replace(settings, operators=operators)


class Engine(Protocol):
    name: str

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], settings: SearchSettings
    ) -> list[Candidate]:
        """Candidates for y ≈ f(X), columns of X named `names`, simplest first."""


# Function names in the engines' equation strings → sympy (PySR's Julia spellings included).
ENGINE_FUNCTIONS = {
    "sqrt": sympy.sqrt,
    "exp": sympy.exp,
    "log": sympy.log,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "abs": sympy.Abs,
    "square": lambda x: x**2,
    "cube": lambda x: x**3,
    "neg": lambda x: -x,
    "inv": lambda x: 1 / x,
}

# name (as options.ENGINES lists them) → (module, class); imported only when chosen, so a
# missing engine costs nothing
ENGINES = {
    "operon": ("nnc.passes.engines.operon", "OperonEngine"),
    "pysr": ("nnc.passes.engines.pysr", "PySREngine"),
    "basis": ("nnc.passes.engines.basis", "BasisEngine"),
}


def get_engine(name: str) -> Engine:
    """The engine called `name`; an unknown name is an InputError listing the choices."""
    if name not in ENGINES:
        raise InputError(
            f"unknown symbolic-regression engine {name!r}",
            hint=f"choose one of: {', '.join(ENGINES)}",
        )
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)()
