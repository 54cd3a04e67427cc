"""Use a compiled library from Python with nothing but numpy and nnc.load: no torch, no compiler.

    nnc examples/physics/model.pt2 -o build/algo.so
    python examples/physics/use_library.py build/algo.so 2 3 1.5

Prints the network's force for each (x0, x1, x2) given on the command line (default: three
built-in points) through the batch call and the scalar entry point, as main.c and the Rust caller
beside it do (numbers exactly: shortest round-trip form), then what the library says about itself.
"""

from __future__ import annotations

import ctypes
import sys

import nnc
import numpy as np

path = sys.argv[1] if len(sys.argv) > 1 else "build/algo.so"
library = nnc.load(path)
given = [float(a) for a in sys.argv[2:]]
points = np.array([given] if len(given) == 3 else [[1, 1, 1], [2, 3, 1.5], [1.5, 2.5, 2.75]], float)
forces = library.run(points)  # doubles, one row per sample, through algo_eval_batch as C calls it

scalar = ctypes.CDLL(path)[library.prefix]  # double algo(double x0, double x1, double x2)
scalar.restype = ctypes.c_double
scalar.argtypes = [ctypes.c_double] * 3
for (x0, x1, x2), (force,) in zip(points.tolist(), forces.tolist()):
    print(
        f"x = ({x0:g}, {x1:g}, {x2:g}): network {force!r}, scalar call {scalar(x0, x1, x2)!r}, "
        f"law {x0 * x1 / (x2 * x2)!r}"
    )
verification = library.metadata["verification"]
print(
    f"closed form {library.metadata['closed_form']}, verified on {verification['points']} "
    f"points, max rel error {verification['max_rel_error']:.2e}"
)
