"""pyoperon adapter: nnc's settings → SymbolicRegressor, its Pareto front → sympy.

Operon's defaults matter: it wraps every model in a·f(x)+b (linear scaling) when its objectives
need it, its `symbolic_mode` favours integer constants, and it has no `mod` (the synth pass
covers integer programs). Each variable leaf carries a weight (w·x), which sympy folds away.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import sympy
from nnc.errors import MissingDependencyError

from . import ENGINE_FUNCTIONS, Candidate, SearchSettings

__all__ = ["OperonEngine", "operon_symbols"]

# nnc operator → operon symbol
_SYMBOLS = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "sin": "sin",
    "cos": "cos",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "pow": "pow",
    "square": "square",
    "abs": "abs",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
}


def operon_symbols(operators: Sequence[str]) -> str:
    """allowed_symbols for SymbolicRegressor: the operators it knows, plus constants and variables."""
    return ",".join([_SYMBOLS[o] for o in operators if o in _SYMBOLS] + ["constant", "variable"])


class OperonEngine:
    name = "operon"

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], settings: SearchSettings
    ) -> list[Candidate]:
        try:
            from pyoperon.sklearn import SymbolicRegressor
        except ImportError as error:
            raise MissingDependencyError(
                "the operon engine needs pyoperon", hint="pip install pyoperon"
            ) from error
        regressor = SymbolicRegressor(
            allowed_symbols=operon_symbols(settings.operators),
            objectives=["r2", "length"],
            max_length=settings.max_complexity,
            population_size=500,
            generations=1000,
            # NOTE: the evaluation budget ends the search; the time limit is only a safety net, so
            # the same seed gives the same expression on any machine that finishes in time.
            max_evaluations=settings.evaluations,
            max_time=max(1, int(settings.seconds)),
            n_threads=settings.threads,
            random_state=settings.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # operon warns that r2 forces linear scaling on
            regressor.fit(X, y)
        candidates = []
        for entry in regressor.pareto_front_:
            text = regressor.get_model_string(entry["tree"], 16)
            candidates.append(
                Candidate(
                    parse_operon(text, names),
                    int(entry["complexity"]),
                    float(entry["mean_squared_error"]),
                )
            )
        return sorted(candidates, key=lambda c: c.complexity)


def parse_operon(text: str, names: Sequence[str]) -> sympy.Expr:
    """Operon's infix string (variables X1..Xn) as sympy over the given names."""
    symbols = {f"X{i + 1}": sympy.Symbol(name) for i, name in enumerate(names)}
    text = re.sub(r"\^", "**", text)
    return sympy.sympify(
        text,
        locals={**symbols, **ENGINE_FUNCTIONS},
    )
