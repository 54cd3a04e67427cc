"""The summary a compile prints (compiler/summary.py): each fact once, readable units, and which
points each error was measured on."""

from __future__ import annotations

from nnc.summary import seconds_text


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_summary_states_each_fact_once(law, tmp_path, capsys) -> None:
    artifact, _ = law
    printed = _flat(artifact.report.text())
    for record in artifact.report.passes:
        for note in record.notes:
            said = note.removeprefix("skipped: ")
            assert printed.count(_flat(said)) == 1, note
    assert printed.count("verified on") == 1
    # the two error figures say where each was measured
    assert "verified on 4,096 points sampled from the domain" in printed
    assert "on 2,000 validation samples" in printed
    assert "time/sample" in printed and "(torch)" in printed


def test_summary_times_have_readable_units() -> None:
    assert seconds_text(12.34) == "12.3 s"
    assert seconds_text(0.0412) == "41.2 ms"
    assert seconds_text(0.00038) == "380 µs"
    assert seconds_text(5.2e-9) == "5.2 ns"
