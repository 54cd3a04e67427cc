"""nnc on a real Dask cluster: a scheduler and two worker processes (each under a nanny that
restarts it) on the loopback interface, started here. The same unit formulas as a serial run, the
same result when a worker is killed mid-job (the engine reruns its work), and an exhaustive check
of 10^6 points in ranges that counts what a serial check and torch count."""

from __future__ import annotations

import os
import signal
import threading
import time

import nnc
import pytest
import torch
from models import PLANTED_SPEC, PlantedFourier, Scaled
from nnc.api import with_output_head
from nnc.domain import Domain
from nnc.exhaustive import check_exhaustively
from nnc.fanout import DaskCluster, Serial
from nnc.fidelity import Gate
from nnc.frontend import to_graph, trace
from nnc.native import JitCompiler
from nnc.options import make_options
from nnc.spec_grammar import parse_inputs

distributed = pytest.importorskip(
    "distributed", reason="the cluster extra is not installed: pip install -e '.[cluster]'"
)

# starting a cluster whose workers import torch takes seconds; .ci/run runs these
pytestmark = pytest.mark.slow

SPEC = "x:int[3]=0..99"  # 10^6 points


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def engine(cluster):
    fanout = DaskCluster(cluster.scheduler_address)
    yield fanout
    fanout.close()


def _units(artifact: nnc.Artifact) -> list[dict]:
    (record,) = [r for r in artifact.report.passes if r.name == "units"]
    return record.data["units mlp.relu"]


def test_per_unit_formulas_are_those_of_a_serial_run(cluster):
    model = PlantedFourier()
    options = {"units": ["mlp.relu"], "passes": ["units"], "mode": "exact"}
    serial = nnc.compile(model, [PLANTED_SPEC], workers=1, **options)
    remote = nnc.compile(model, [PLANTED_SPEC], cluster=cluster.scheduler_address, **options)
    assert _units(remote) == _units(serial)
    assert sum(u["passed"] for u in _units(remote)) == 3
    assert remote.report.fanout["engine"] == "dask" and remote.report.fanout["workers"] == 2
    assert remote.report.fanout["exhaustive_limit"] == 2 * make_options().enumerate_limit


def _check(fanout, network, other):
    options = make_options(output="argmax", mode="exact")
    specs = parse_inputs([SPEC])
    graphs = [
        with_output_head(to_graph(trace(m, specs), specs), options.output) for m in (network, other)
    ]
    gate = Gate.from_options(options)
    return check_exhaustively(
        graphs[1], graphs[0], specs, JitCompiler(), options, gate, True, fanout
    )


def test_an_exhaustive_check_of_a_million_points_counts_what_serial_and_torch_count(engine):
    network, other = Scaled(0), Scaled(1)
    remote = _check(engine, network, other)
    serial = _check(Serial(), network, other)
    (points,) = Domain(parse_inputs([SPEC])).enumerate_range(0, 10**6)
    with torch.no_grad():
        x = torch.from_numpy(points)
        truth = int((network(x).argmax(-1) == other(x).argmax(-1)).sum())
    assert remote.complete and remote.points == 10**6
    assert remote.agreement == serial.agreement == truth
    assert remote == serial


def test_a_worker_killed_mid_job_does_not_change_the_result(cluster, engine):
    network, other = Scaled(0), Scaled(1)
    expected = _check(Serial(), network, other)
    client = engine._client
    pids = client.run(os.getpid)  # worker address → pid
    result: dict[str, object] = {}
    job = threading.Thread(target=lambda: result.setdefault("f", _check(engine, network, other)))
    job.start()
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and job.is_alive():
        busy = [address for address, keys in client.processing().items() if keys]
        victim = pids.get(busy[0]) if busy else None
        time.sleep(0.01)
    assert victim is not None, "a worker was running a range"
    os.kill(victim, signal.SIGKILL)
    job.join(timeout=600)
    assert result["f"] == expected, "the engine reran the lost ranges"
    assert victim not in client.run(os.getpid).values(), "the killed worker was replaced"
    client.wait_for_workers(2, timeout=60)
