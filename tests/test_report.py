"""The report on a synthetic compile: every figure of the records appears in text, JSON and
Markdown, as given."""

from __future__ import annotations

import json
from pathlib import Path

from nnc.fidelity import Fidelity
from nnc.pipeline import PassRecord
from nnc.report import Report


def _report() -> Report:
    # fields in the order of PassRecord: name, changed, nodes, params, seconds, stats, notes, ...
    fold = PassRecord(
        "fold", True, (7, 5), (120, 100), 0.25, {"folded": 2}, ["one | note"], flops=(1240, 1000)
    )
    sr = PassRecord(
        "sr",
        True,
        (5, 1),
        (100, 0),
        3.5,
        {"candidates": 40},
        ["chose x0*x1"],
        {"front": [1, 2]},
        (1000, 6),
        Fidelity(64, None, False, 0.1, 0.02, 0.01, 1e-5),
    )
    verification = Fidelity(9, 9, True, 0.1, 0.02, 0.05, 5e-2, 8, (([1, 2], 3, 4),))
    return Report(
        "auto",
        "raw",
        [fold, sr],
        verification,
        {"trace": 1.5, "passes": 3.75},
        {"ops": 1, "params": 0},
        "x0*x1",
        {
            "network_max_rel_error": 0.01,
            "network_rmse": 0.02,
            "artifact_max_rel_error": 0.03,
            "artifact_rmse": 0.04,
        },
    )


def test_text_has_a_row_per_pass_and_every_figure() -> None:
    text = _report().text()
    lines = text.splitlines()
    assert lines[0] == "closed form: x0*x1"
    assert lines[1] == "mode auto, output raw: 1 ops, 0 parameters"
    (fold,) = [line for line in lines if line.lstrip().startswith("fold ")]
    for figure in ("yes", "7 → 5", "120 → 100", "1,240 → 1,000", "0.250 s", "folded 2"):
        assert figure in fold
    assert "    one | note" in lines
    assert "decisions agree on 8/9" in text
    assert "  [1, 2]: 3 → 4" in lines
    assert "network max rel error 0.01 (RMSE 0.02), artifact 0.03 (RMSE 0.04)" in text
    assert lines[-1] == "compile time: trace 1.50 s, passes 3.75 s"


def test_json_holds_the_records_and_round_trips() -> None:
    data = json.loads(json.dumps(_report().to_json()))
    fold, sr = data["passes"]
    assert fold == {
        "name": "fold",
        "changed": True,
        "ops": [7, 5],
        "params": [120, 100],
        "flops": [1240, 1000],
        "seconds": 0.25,
        "stats": {"folded": 2},
        "approximate": False,
        "notes": ["one | note"],
        "data": {},
    }
    assert sr["approximate"] is True and sr["data"] == {"front": [1, 2]}
    assert data["verification"]["agreement"] == 8 and data["closed_form"] == "x0*x1"
    assert data["seconds"] == {"trace": 1.5, "passes": 3.75}


def test_markdown_table_escapes_pipes_and_lists_disagreements(tmp_path: Path) -> None:
    path = _report().write_markdown(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `x0*x1`" in text
    assert "| fold | yes | 7 → 5 | 120 → 100 | 1,240 → 1,000 | 0.250 s | one \\| note |" in text
    assert "- [1, 2]: 3 → 4" in text
    assert not list(tmp_path.glob("*.png"))  # no spectrum in these records: no plot


def test_markdown_plots_an_embedding_spectrum(tmp_path: Path) -> None:
    report = _report()
    report.passes[0].data["embedding spectrum"] = {
        "share": [0.0, 0.5, 0.1, 0.4],
        "key frequencies": [1, 3],
        "tokens": 7,
    }
    text = report.write_markdown(tmp_path / "r.md").read_text()
    assert "Key frequencies: [1, 3]." in text and "![embedding spectrum](r-spectrum.png)" in text
    assert (tmp_path / "r-spectrum.png").read_bytes()[:4] == b"\x89PNG"
