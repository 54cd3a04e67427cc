"""PySR adapter (the optional extra `nnc[pysr]`).

PySR starts Julia when it is imported and downloads Julia when it is missing, which cannot work
offline: it is imported only when this engine is chosen, and any failure becomes a
MissingDependencyError that says what is needed. Its equations table is translated to sympy from
the equation strings, so the translation is testable without Julia.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy
from nnc.errors import MissingDependencyError

from . import ENGINE_FUNCTIONS, Candidate, SearchSettings

__all__ = ["PySREngine", "equations_to_candidates", "pysr_options"]

_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_UNARY = {
    "sin": "sin",
    "cos": "cos",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "abs": "abs",
    "square": "square",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
}


def pysr_options(settings: SearchSettings) -> dict[str, Any]:
    """PySRRegressor keyword arguments for nnc's settings (deterministic when threads == 1)."""
    deterministic = settings.threads <= 1
    return {
        "binary_operators": [_BINARY[o] for o in settings.operators if o in _BINARY],
        "unary_operators": [_UNARY[o] for o in settings.operators if o in _UNARY],
        "maxsize": settings.max_complexity,
        "timeout_in_seconds": settings.seconds,
        "max_evals": settings.evaluations,
        "random_state": settings.seed,
        "deterministic": deterministic,
        "parallelism": "serial" if deterministic else "multithreading",
        "procs": 0 if deterministic else settings.threads,
        "progress": False,
        "verbosity": 0,
    }


def equations_to_candidates(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> list[Candidate]:
    """PySR's equations table (rows with 'equation', 'complexity', 'loss') as candidates."""
    symbols = {name: sympy.Symbol(name) for name in names}
    candidates = []
    for row in rows:
        text = str(row["equation"]).replace("^", "**")
        expr = sympy.sympify(text, locals={**symbols, **ENGINE_FUNCTIONS})
        candidates.append(Candidate(expr, int(row["complexity"]), float(row["loss"])))
    return sorted(candidates, key=lambda c: c.complexity)


class PySREngine:
    name = "pysr"

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], settings: SearchSettings
    ) -> list[Candidate]:
        regressor_class = _import_pysr()
        regressor = regressor_class(**pysr_options(settings))
        regressor.fit(X, y, variable_names=list(names))
        return equations_to_candidates(regressor.equations_.to_dict("records"), names)


def _import_pysr() -> Any:
    if importlib.util.find_spec("pysr") is None:
        raise MissingDependencyError(
            "the pysr engine needs PySR, which is not installed",
            hint="pip install 'nnc[pysr]' (PySR also needs Julia), or use --engine operon",
        )
    try:
        from pysr import PySRRegressor
    except Exception as error:
        raise MissingDependencyError(
            f"PySR could not start Julia ({type(error).__name__}: {str(error)[:200]})",
            hint="PySR needs Julia ≥ 1.10: install it (https://julialang.org/downloads) and run "
            "`python -c 'import pysr'` once online so it can set up its packages; or use "
            "--engine operon, which runs offline",
        ) from error
    return PySRRegressor
