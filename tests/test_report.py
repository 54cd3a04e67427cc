"""The report (compiler/report.py, report_data.py, report_markdown.py): on a synthetic compile every
figure of the records appears in text, JSON and Markdown, as given; real reports match the JSON
schemas in docs/."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import nnc
import pytest
from models import TwoOutputLinear
from nnc.cli import main
from nnc.fidelity import Fidelity
from nnc.pipeline import PassRecord
from nnc.report import Report

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs"
LINEAR_SPEC = "x:float[2]=[0..1, -1..3]"


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
    assert lines[0].startswith("nnc mode auto · output raw")
    assert "verified on every point of the domain (9): FAILED" in text
    (fold,) = [line for line in lines if line.split()[:1] == ["fold"] and "→" in line]
    for figure in ("7 → 5", "120 → 100", "1,240 → 1,000", "250 ms"):
        assert figure in fold
    (sr,) = [line for line in lines if line.split()[:1] == ["sr"] and "→" in line]
    assert "0.02" in sr and "3.5 s" in sr  # the error measured after it
    assert ["fold", "one", "|", "note"] in [line.split() for line in lines]
    assert ["counts:", "folded", "2"] in [line.split() for line in lines]
    assert "decisions agree on 8/9" in text
    assert "  [1, 2]: 3 → 4" in lines
    assert "network max rel error 0.01 (RMSE 0.02), artifact 0.03 (RMSE 0.04)" in text
    assert lines[-1] == "compile time 5.25 s: trace 1.5 s, passes 3.75 s"


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
        "error": None,
        "notes": ["one | note"],
        "data": {},
    }
    assert sr["approximate"] is True and sr["data"] == {"front": [1, 2]} and sr["error"] == 0.02
    assert data["verification"]["agreement"] == 8 and data["closed_form"] == "x0*x1"
    assert data["seconds"] == {"trace": 1.5, "passes": 3.75}


def test_markdown_table_escapes_pipes_and_lists_disagreements(tmp_path: Path) -> None:
    path = _report().write(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `x0*x1`" in text
    assert "| fold | yes | 7 → 5 | 120 → 100 | 1,240 → 1,000 | 250 ms | one \\| note |" in text
    assert "- [1, 2]: 3 → 4" in text
    assert not list(tmp_path.glob("*.png"))  # no spectrum in these records: no plot


def test_markdown_plots_an_embedding_spectrum(tmp_path: Path) -> None:
    report = _report()
    report.passes[0].data["embedding spectrum"] = {
        "share": [0.0, 0.5, 0.1, 0.4],
        "key frequencies": [1, 3],
        "tokens": 7,
    }
    text = report.write(tmp_path / "r.md").read_text()
    assert "Key frequencies: [1, 3]." in text and "![embedding spectrum](r-spectrum.png)" in text
    assert (tmp_path / "r-spectrum.png").read_bytes()[:4] == b"\x89PNG"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def test_json_reports_match_their_schemas(law, classifier, tmp_path, capsys) -> None:
    for artifact in (law[0], classifier):
        jsonschema.validate(
            json.loads(json.dumps(artifact.report.to_json())), _schema("report.schema.json")
        )
    pt2 = tmp_path / "linear.pt2"
    nnc.save_model(TwoOutputLinear(), pt2, inputs=[LINEAR_SPEC])
    out = tmp_path / "linear.so"
    assert main([str(pt2), "-o", str(out), "--mode", "exact", "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), _schema("report.schema.json"))
    assert main(["show", str(out), "--json", "--asm"]) == 0
    shown = json.loads(capsys.readouterr().out)
    jsonschema.validate(shown, _schema("show.schema.json"))
    assert set(shown["disassembly"]) == set(shown["exports"])
    assert main(["inspect", str(pt2), "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), _schema("inspect.schema.json"))


def test_the_schema_is_strict() -> None:
    """A field the schema does not document is refused, so the schema cannot fall behind."""
    schema = _schema("report.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"mode": "auto", "surprise": 1}, schema)


def test_markdown_report_keeps_working(law, tmp_path) -> None:
    path = law[0].report.write(tmp_path / "report.md")
    text = path.read_text()
    assert "**Closed form:** `x0*x1/x2**2`" in text and "![inputs](report-inputs.png)" in text
    assert (tmp_path / "report-inputs.png").stat().st_size > 1000


def test_unknown_report_kind_is_refused(law, tmp_path) -> None:
    with pytest.raises(nnc.InputError, match="report.html"):
        law[0].report.write(tmp_path / "report.pdf")
