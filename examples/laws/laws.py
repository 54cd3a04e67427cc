"""The known laws of the laws example: name → (formula over x0, x1, x2, input spec)."""

from __future__ import annotations

LAWS: dict[str, tuple[str, str]] = {
    "gravity": ("x0*x1/x2**2", "x:float[3]=1..3"),
    "decay": ("x1*exp(-x0)", "x:float[2]=[0..2, 1..3]"),
    "waves": ("sin(x0) + cos(x1)", "x:float[2]=-2..2"),
    "distance": ("sqrt(x0**2 + x1**2)", "x:float[2]=1..3"),
    "work": ("x0*x1 + x1*x2", "x:float[3]=0..2"),
    "lens": ("x0/(x1 + x2)", "x:float[3]=1..3"),
    "cubic": ("x0**3 - 2*x1", "x:float[2]=-1..1"),
    "kinetic": ("x0*x1**2/2", "x:float[2]=0..2"),
}
