"""Compile each law network with nnc and check the recovered closed form against the truth.

    python examples/laws/recover.py               # every law, default engine (operon)
    python examples/laws/recover.py --engine basis

Prints, per law: the formula nnc found, whether it is sympy-equivalent to the truth, its error
against the network, and the compile time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nnc
import sympy
from laws import LAWS

HERE = Path(__file__).resolve().parent


def equivalent(found: str | None, truth: str) -> bool:
    if found is None:
        return False
    symbols = {f"x{i}": sympy.Symbol(f"x{i}") for i in range(3)}
    difference = sympy.sympify(found, locals=symbols) - sympy.sympify(truth, locals=symbols)
    return sympy.simplify(difference) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="operon")
    parser.add_argument("laws", nargs="*", default=list(LAWS))
    args = parser.parse_args()
    recovered = 0
    print(f"{'law':<10} {'truth':<22} {'found':<28} {'equal':<6} {'rel err':<9} time")
    for name in args.laws:
        truth = LAWS[name][0]
        start = time.perf_counter()
        artifact = nnc.compile(HERE / f"{name}.pt2", engine=args.engine)
        seconds = time.perf_counter() - start
        found = artifact.report.closed_form
        same = equivalent(found, truth)
        recovered += same
        error = artifact.report.fidelity.max_rel
        print(
            f"{name:<10} {truth:<22} {found or '(faithful network)':<28} "
            f"{'yes' if same else 'no':<6} {error:<9.1e} {seconds:.1f} s"
        )
    print(f"recovered {recovered}/{len(args.laws)} laws exactly")


if __name__ == "__main__":
    main()
