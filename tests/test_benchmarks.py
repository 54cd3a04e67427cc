"""benchmarks/: the whole machinery on a tiny workload (y = x0 + x1) with tiny repeat counts, the
column-entry timing on a tiny hand-made library, and AOTInductor's ways of being skipped.

Checks the JSON structure and that every ratio and target is computed from figures measured in
the run; asserts nothing about speed."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not an installed package

from benchmarks.analysis import (
    CTYPES_SCALAR,
    ENTRY,
    HAND_INLINE,
    INT32_LOOP,
    INT64_LOOP,
    NNC_INLINE,
    SCALAR,
    evaluate_targets,
    weights_read_ns,
)
from benchmarks.aoti import BuildError, build_packages
from benchmarks.c_driver import compile_shared
from benchmarks.columns import run_columns
from benchmarks.peak import L2_READ, WEIGHTS_READ
from benchmarks.run import render, run
from benchmarks.settings import ALL_RUNTIMES, Settings
from benchmarks.tables import columns_table
from benchmarks.workloads import (
    REFERENCE,
    ColumnReference,
    Reference,
    Workload,
    uniform,
)

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
COLUMN_ENTRY = """
#include <stdint.h>
int tiny_batch_i32(int64_t n, const int32_t *a, const int32_t *b, int32_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = (a[i] + b[i]) % 113;
    return 0;
}
"""
REPEATS = 3
BUILDS = ("torch.compile", "AOTInductor")  # ~10 s each
SETTINGS = Settings(
    repeats=REPEATS,
    batch=64,
    single_seconds=1e-4,
    batch_seconds=1e-4,
    runtimes=tuple(r for r in ALL_RUNTIMES if r not in BUILDS),
    columns=(256, 4096),
)


def tiny_workload(folder: Path) -> Workload:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 1.0]]))
        model.bias.zero_()
    source = folder / "tiny.c"
    source.write_text(HAND_WRITTEN)
    return Workload(
        "tiny",
        "tiny",
        model.eval(),
        model,
        ["x:float[2]=0..1"],
        {"mode": "exact"},
        uniform(2, 0.0, 1.0),
        False,
        Reference(source, "ref_tiny"),
    )


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
    assert {
        "torch",
        "nnc art(x)",
        "nnc.load",
        "nnc C",
        "nnc C scalar",
        "hand C",
        "hand C scalar",
        "ctypes abs()",
        SCALAR,
    } <= measured
    for name, figures in record["runtimes"].items():
        for kind in ("single", "batch"):
            summary = figures[kind]
            if summary is None:  # the floor and the Python scalar calls take one sample only,
                # the threaded entries no single call
                assert (name in ("ctypes abs()", SCALAR, CTYPES_SCALAR) and kind == "batch") or (
                    name.startswith("nnc C threads=") and kind == "single"
                )
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

    inline = record["inline"]  # x0 + x1 is a closed form: the header has tiny_inline
    assert inline["function"] == "tiny_inline" and inline["hand"] == "ref_tiny"
    assert set(inline["runtimes"]) == {NNC_INLINE, HAND_INLINE}
    for name, figures in inline["runtimes"].items():
        assert len(figures["batch"]["repeats"]) == REPEATS
        assert figures["check"]["max_rel_diff"] < 1e-6, name  # both loops computed x0 + x1
    (inline_ratio,) = inline["ratios"]
    ratios[inline_ratio["name"], "batch"] = inline_ratio

    def figure(name: str, kind: str) -> float:
        return record["runtimes"][name][kind]["median"]

    assert targets and all(t["met"] in (True, False, None) for t in targets)
    for t in targets:
        if t["measured"] is None:
            continue
        if t["unit"] == " ns":  # what the Python call costs over the C call
            top, bottom = t["from"].split(" - ")
            assert t["measured"] == figure(top, t["kind"]) - figure(bottom, t["kind"])
        else:
            assert t["measured"] == ratios[t["from"], t["kind"]]["value"]
    assert any(t["from"] == "nnc art.scalar / ctypes abs()" for t in targets)
    assert "tiny" in render(results) and "tiny_inline" in render(results)

    machine = record["machine"]  # the peak loops ran in the same rounds, weights read included
    for name in (L2_READ, WEIGHTS_READ):
        assert machine[name]["unit"] == "GB/s" and len(machine[name]["repeats"]) == REPEATS
    assert machine["weights_buffer_bytes"] >= record["weight_bytes"]  # 12 B, read as 8 vectors
    assert weights_read_ns(record) == record["weight_bytes"] / machine[WEIGHTS_READ]["median"]
    assert "a bare read of the" in render(results)


def column_reference() -> ColumnReference:
    def columns(n: int) -> list[np.ndarray]:
        return list(np.random.default_rng(0).integers(0, 113, size=(2, n)))

    return ColumnReference(
        REFERENCE / "modadd_columns.c",
        ((INT64_LOOP, "ref_modadd_mod_i64", "i64"), (INT32_LOOP, "ref_modadd_cmpsub_i32", "i32")),
        columns,
        lambda a, b: (a + b) % 113,
    )


def test_column_entries_against_hand_written_loops(tmp_path: Path) -> None:
    source = tmp_path / "tiny.c"
    source.write_text(COLUMN_ENTRY)
    library = compile_shared(source, tmp_path / "tiny.so")
    library.with_suffix(".h").write_text(
        "int tiny_batch_i32(int64_t n, const int32_t *a, const int32_t *b, int32_t *out);\n"
    )
    columns = run_columns(
        library, "tiny", column_reference(), SETTINGS, tmp_path, lambda line: None
    )
    columns = json.loads(json.dumps(columns))
    assert columns["entry"] == "tiny_batch_i32"
    assert columns["pairs"] == {"cache": 256, "memory": 4096}
    assert set(columns["runtimes"]) == {ENTRY, INT64_LOOP, INT32_LOOP}
    for name, figures in columns["runtimes"].items():
        assert figures["bytes_per_pair"] == (24 if name == INT64_LOOP else 12)
        for kind in ("cache", "memory"):
            summary = figures[kind]
            assert len(summary["repeats"]) == REPEATS and min(summary["repeats"]) > 0
            assert figures["gb_per_s"][kind] == pytest.approx(
                figures["bytes_per_pair"] / summary["median"]
            )
            assert figures["check"][kind] == 0.0, name  # every loop wrote (a + b) mod 113
    for r in columns["ratios"]:
        top = columns["runtimes"][r["numerator"]][r["kind"]]["median"]
        bottom = columns["runtimes"][r["denominator"]][r["kind"]]["median"]
        assert r["value"] == pytest.approx(top / bottom)

    record = {
        "name": "tiny",
        "compile": {"mode": "auto", "closed_form": "(a + b) mod 113"},
        "ratios": [],
        "columns": columns,
    }
    targets = [t for t in evaluate_targets([record]) if t["kind"] == "cache"]
    assert [t["unit"] for t in targets] == [" ns", "x", "x"]
    assert targets[0]["measured"] == columns["runtimes"][ENTRY]["cache"]["median"]
    assert all(t["met"] in (True, False) for t in targets)
    assert INT32_LOOP in columns_table(record)


def test_column_entries_skipped_without_an_int32_entry(tmp_path: Path) -> None:
    (tmp_path / "tiny.h").write_text(
        "int tiny_batch_i64(int64_t n, const int64_t *a, const int64_t *b, int64_t *out);\n"
    )
    columns = run_columns(
        tmp_path / "tiny.so", "tiny", column_reference(), SETTINGS, tmp_path, lambda line: None
    )
    assert "no tiny_batch_i32" in columns["skipped"]
    record = {
        "name": "tiny",
        "compile": {"mode": "auto", "closed_form": None},
        "ratios": [],
        "columns": columns,
    }
    targets = [t for t in evaluate_targets([record]) if t["kind"] == "cache"]
    assert len(targets) == 3 and all(t["met"] is None for t in targets)
    assert "skipped" in columns_table(record)


class DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.sum() > 0 else -x


def test_aot_inductor_is_skipped_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="torch.export failed"):
        build_packages(DataDependent(), [torch.ones(2, 2)], tmp_path)
    with pytest.raises(BuildError, match="time limit"):  # the child is killed, not waited for
        build_packages(torch.nn.Linear(2, 1), [torch.ones(1, 2)], tmp_path, limit=0.5)


@pytest.mark.slow
def test_scale_benchmark_on_a_tiny_workload(tmp_path: Path) -> None:
    """benchmarks/scale.py end to end on 16 units and 10^4 points: each engine's speed-up is its
    serial phase's median over its own, and the projection covers 8-64 workers."""
    from benchmarks.scale import PROJECTED_WORKERS
    from benchmarks.scale import main as scale_main

    output = tmp_path / "scale.json"
    assert (
        scale_main(
            ["--repeats", "1", "--points", "10000", "--units", "16", "--output", str(output)]
        )
        == 0
    )
    record = json.loads(output.read_text())
    assert record["exhaustive"]["points"] == 10**4
    for job in ("units", "exhaustive"):
        for engine in ("local pool", "dask"):
            timed, serial = record[job][engine], record[job][f"serial beside {engine}"]
            assert len(timed["runs_s"]) == len(serial["runs_s"]) == 1
            assert timed["speedup"] == pytest.approx(serial["median_s"] / timed["median_s"])
            projected = record[job]["projection"][engine]["workers"]
            assert list(projected) == [str(w) for w in PROJECTED_WORKERS]


def test_feynman_network_error_counts_the_corners() -> None:
    """feynman.network_error: zero for a module computing the law, and a module off the law only
    at the box's corner shows it in the max error, not in the sampled RMSE."""
    from benchmarks.feynman import Equation, network_error

    equation = Equation("xy", "x*y", (("x", 1.0, 3.0), ("y", 1.0, 3.0)))

    class Law(nn.Module):
        def __init__(self, bump: float) -> None:
            super().__init__()
            self.bump = bump

        def forward(self, points: torch.Tensor) -> torch.Tensor:
            x, y = points[:, 0:1].double(), points[:, 1:2].double()
            corner = ((x == 3) & (y == 3)).double()
            return x * y + self.bump * corner

    assert network_error(Law(0.0), equation) == pytest.approx((0, 0), abs=1e-6)  # float32 points
    rmse, worst = network_error(Law(0.9), equation)
    assert rmse == pytest.approx(0, abs=1e-6) and worst == pytest.approx(0.9 / 9, rel=1e-5)


def test_feynman_batches_lean_on_the_faces() -> None:
    """Half of a training batch comes from the arcsine density: more points near the box's faces
    than uniform sampling gives, all inside the unit box."""
    from benchmarks.feynman import BATCH, EDGE_SHARE, _unit_samples

    unit = _unit_samples(np.random.default_rng(0), 3)
    assert unit.shape == (BATCH, 3) and unit.min() >= 0 and unit.max() <= 1
    near = lambda u: np.mean((u < 0.05) | (u > 0.95))
    edge = int(EDGE_SHARE * BATCH)
    assert near(unit[:edge]) > 2 * near(unit[edge:])
