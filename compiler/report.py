"""What a compile did, as text for people and JSON for machines; every figure in it was measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fidelity import Fidelity
from .pipeline import PassRecord

__all__ = ["Report"]


@dataclass
class Report:
    """Pass records, verification figures and stage timings of one compile."""

    mode: str
    output: str
    passes: list[PassRecord]
    fidelity: Fidelity
    seconds: dict[str, float] = field(default_factory=dict)  # stage → wall time
    graph: dict[str, int] = field(default_factory=dict)  # final ops and parameters

    def text(self) -> str:
        lines = [f"mode {self.mode}, output {self.output}: {self.graph.get('ops', 0)} ops, "
                 f"{self.graph.get('params', 0):,} parameters"]
        if self.passes:
            lines.append(f"  {'pass':<10} {'changed':<8} {'ops':>15} {'params':>23} {'time':>9}")
            for r in self.passes:
                lines.append(
                    f"  {r.name:<10} {'yes' if r.changed else 'no':<8} "
                    f"{r.nodes[0]:>6} → {r.nodes[1]:<6} {r.params[0]:>10,} → {r.params[1]:<10,} "
                    f"{r.seconds:>7.3f} s"
                )
        lines.append(self.fidelity.summary())
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())
        lines.append(f"compile time: {stages}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "output": self.output,
            "graph": self.graph,
            "passes": [
                {"name": r.name, "changed": r.changed, "ops": list(r.nodes),
                 "params": list(r.params), "seconds": r.seconds, "stats": r.stats,
                 "notes": r.notes}
                for r in self.passes
            ],
            "verification": self.fidelity.to_json(),
            "seconds": self.seconds,
        }
