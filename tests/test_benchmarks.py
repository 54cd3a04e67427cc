"""benchmarks/: the whole machinery on a tiny workload (y = x0 + x1) with tiny repeat counts.

Checks the JSON structure and that every ratio and target is computed from figures measured in
the run; asserts nothing about speed."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not an installed package

from benchmarks.bench import ALL_RUNTIMES, Settings  # noqa: E402
from benchmarks.run import render, run  # noqa: E402
from benchmarks.workloads import Reference, Workload, uniform  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="the C drivers need cc")

HAND_WRITTEN = """
#include <stdint.h>
double ref_tiny(double x0, double x1) { return x0 + x1; }
int ref_tiny_eval(const double *x, double *y) { y[0] = x[0] + x[1]; return 0; }
int ref_tiny_eval_batch(int64_t n, const double *x, double *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[2 * i] + x[2 * i + 1];
    return 0;
}
"""
REPEATS = 3
SETTINGS = Settings(repeats=REPEATS, batch=64, single_seconds=1e-4, batch_seconds=1e-4,
                    runtimes=tuple(r for r in ALL_RUNTIMES if r != "torch.compile"))  # builds ~10 s


def tiny_workload(folder: Path) -> Workload:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 1.0]]))
        model.bias.zero_()
    source = folder / "tiny.c"
    source.write_text(HAND_WRITTEN)
    return Workload("tiny", "tiny", model.eval(), model, ["x:float[2]=0..1"], {"mode": "exact"},
                    uniform(2, 0.0, 1.0), False, Reference(source, "ref_tiny"))


def test_machinery_on_a_tiny_workload(tmp_path: Path) -> None:
    results = run([lambda: tiny_workload(tmp_path)], SETTINGS, False, lambda line: None)
    results = json.loads(json.dumps(results))  # what results.json holds: nothing lost on the way
    assert {"cpu", "cores", "python", "versions"} <= set(results["machine"])
    assert {"torch", "onnxruntime", "llvmlite", "nnc"} <= set(results["machine"]["versions"])
    assert results["settings"]["repeats"] == REPEATS
    (record,) = results["workloads"]
    targets = results["targets"]

    assert record["batch"] == SETTINGS.batch
    compiled = record["compile"]
    assert compiled["mode"] == "exact" and compiled["seconds"] > 0
    assert set(compiled["stages"]) >= {"trace", "passes", "codegen", "verify"}
    assert all(set(p) == {"name", "seconds"} for p in compiled["passes"])

    measured = set(SETTINGS.runtimes) - set(record["skipped"])
    assert set(record["runtimes"]) == measured
    assert {"torch", "nnc art(x)", "nnc.load", "nnc C", "nnc C scalar", "hand C",
            "hand C scalar", "ctypes abs()"} <= measured
    for name, figures in record["runtimes"].items():
        for kind in ("single", "batch"):
            summary = figures[kind]
            if summary is None:
                assert name == "ctypes abs()" and kind == "batch"
                continue
            assert len(summary["repeats"]) == REPEATS and min(summary["repeats"]) > 0
            assert summary["median"] == pytest.approx(statistics.median(summary["repeats"]))
            assert summary["q1"] <= summary["median"] <= summary["q3"]
        if figures["check"] is not None:  # every runtime computed x0 + x1 like torch did
            assert figures["check"]["max_rel_diff"] < 1e-6, name

    ratios = {(r["name"], r["kind"]): r for r in record["ratios"]}
    for kind in ("single", "batch"):
        assert ("nnc C / hand C", kind) in ratios and ("torch / nnc C", kind) in ratios
    assert ("nnc art(x) / ctypes abs()", "single") in ratios
    for r in record["ratios"]:  # each from two medians of this run, not a typed-in figure
        top = record["runtimes"][r["numerator"]][r["kind"]]["median"]
        bottom = record["runtimes"][r["denominator"]][r["kind"]]["median"]
        assert (r["numerator_median"], r["denominator_median"]) == (top, bottom)
        assert r["value"] == pytest.approx(top / bottom)

    assert targets and all(t["met"] in (True, False, None) for t in targets)
    for t in targets:
        if t["measured"] is not None:
            assert t["measured"] == ratios[t["from"], t["kind"]]["value"]
    assert "tiny" in render(results)
