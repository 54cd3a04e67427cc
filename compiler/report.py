"""What a compile did (`ReportData`), with its renderings for people and machines: `text()` the
summary the CLI prints, `to_json()` (docs/report.schema.json), `write(path)` a report file."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .report_data import ReportData
from .report_html import write_html
from .report_markdown import write_markdown
from .summary import plain_text

__all__ = ["REPORT_WRITERS", "Report"]

# report file suffix → writer
REPORT_WRITERS = {".html": write_html, ".md": write_markdown}


class Report(ReportData):
    """Pass records, verification figures, per-output results and timings of one compile."""

    def text(self, width: int = 100) -> str:
        """The summary as plain text (what the CLI prints when stdout is not a terminal)."""
        return plain_text(self, width)

    def write(self, path: str | Path) -> Path:
        """Write the report for people: one self-contained HTML page (`.html`) or Markdown with
        its pictures beside it (`.md`)."""
        path = Path(path)
        writer = REPORT_WRITERS.get(path.suffix)
        if writer is None:
            raise InputError(
                f"cannot write a report to {str(path)!r}: unknown kind {path.suffix!r}",
                hint="name it report.html (one self-contained page) or report.md (Markdown)",
            )
        return writer(self, path)
