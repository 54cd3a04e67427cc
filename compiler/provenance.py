"""Where a traced node came from, in the user's words: the module path (`encoder.layers.0.conv`),
the user's file and line with its text, never torch's own files and never a machine's full paths.

torch.export records, per fx node, `nn_module_stack` (module path → class) and `stack_trace` (the
Python frames that produced it, innermost last). Frames inside torch are library detail; the last
frame outside torch is the line the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
import torch.fx

__all__ = ["Origin", "is_library_file", "origin", "portable_stack_trace", "user_files"]

_TORCH_ROOT = str(Path(torch.__file__).resolve().parent)
# One frame of a Python stack trace: the File line, then (optionally) the indented source text.
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]*)(?:\n {4}([^\n]*))?')


@dataclass(frozen=True)
class Origin:
    """The user-facing place of one traced node."""

    module: str  # dotted module path, "" for the top-level model
    module_type: str  # the module's class name, e.g. "Conv2d" ("" when unknown)
    file: str  # file name as recorded (never an absolute path), "" when unknown
    line: int
    text: str  # the source line's text, stripped

    def where(self) -> str:
        """`in layers.0.conv (Conv2d), model.py:42: y = self.conv(x)`, or what of it is known
        (the top-level model is named only when no line of the user's is known)."""
        parts = []
        kind = f" ({self.module_type})" if self.module_type else ""
        if self.module:
            parts.append(f"in {self.module}{kind}")
        elif self.module_type and not self.file:
            parts.append(f"in the model{kind}")
        if self.file:
            parts.append(f"{self.file}:{self.line}" + (f": {self.text}" if self.text else ""))
        return ", ".join(parts) or "source unknown"


def _frames(trace: str) -> list[tuple[str, int, str, str]]:
    """(file, line, function, text) per frame, outermost first."""
    return [(f, int(n), fn, (t or "").strip()) for f, n, fn, t in _FRAME.findall(trace)]


def is_library_file(path: str) -> bool:
    """Whether a source file belongs to torch (its frames are never the user's line)."""
    return path.startswith(_TORCH_ROOT) or "/site-packages/torch/" in path


def user_files(trace: str) -> list[str]:
    """The files of a stack trace's frames outside torch."""
    return [f for f, *_ in _frames(trace) if not is_library_file(f)]


def origin(node: torch.fx.Node | None) -> Origin:
    """The module path and the user's source line that produced this fx node."""
    if node is None:
        return Origin("", "", "", 0, "")
    stack = node.meta.get("nn_module_stack") or {}
    module, module_type = "", ""
    if stack:
        module, kind = list(stack.values())[-1]
        module_type = (kind if isinstance(kind, str) else getattr(kind, "__name__", "")).rsplit(
            ".", 1
        )[-1]
    frames = _frames(node.meta.get("stack_trace") or "")
    user = [f for f in frames if not is_library_file(f[0])]
    if not user:  # a stock torch module as the whole model: its module says where
        return Origin(module, module_type, "", 0, "")
    path, line, _, text = user[-1]
    shown = path if not PurePosixPath(path).is_absolute() else PurePosixPath(path).name
    return Origin(module, module_type, shown, line, text)


def portable_stack_trace(trace: str, root: Path) -> str:
    """The user's frames of a stack trace with file names relative to `root` (the folder of the
    model's own code; a file elsewhere keeps only its name): no absolute path leaves the machine."""
    lines = []
    for path, line, function, text in _frames(trace):
        if is_library_file(path):
            continue
        try:
            shown = str(Path(path).resolve().relative_to(root.resolve()))
        except ValueError:
            shown = PurePosixPath(path).name
        lines.append(f'File "{shown}", line {line}, in {function}\n    {text}')
    return "\n".join(lines)
