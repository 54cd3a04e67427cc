"""Use a compiled library from Python with nothing but numpy: no torch, no nnc compiler.

nnc examples/physics/model.pt2 -o algo.so
python examples/physics/use_library.py algo.so
"""

from __future__ import annotations

import sys

import nnc
import numpy as np

library = nnc.load(sys.argv[1] if len(sys.argv) > 1 else "algo.so")
points = np.array([[1.0, 1.0, 1.0], [2.0, 3.0, 1.5], [1.5, 2.5, 2.75]])
forces = library(points)
for x, force in zip(points, forces):
    print(f"x = {x}: network {force[0]:.6f}, law {x[0] * x[1] / x[2] ** 2:.6f}")
verification = library.metadata["verification"]
print(
    f"verified on {verification['points']} points, max rel error "
    f"{verification['max_rel_error']:.2e}"
)
