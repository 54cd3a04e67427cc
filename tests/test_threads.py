"""nnc.compile from several threads: the same results as one after the other, and no compile — a
failing one included — leaves torch's global export state broken for the next."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nnc
import numpy as np
import pytest
import torch
from torch import nn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GROKKING = EXAMPLES / "grokking" / "modadd.pt2"
PHYSICS = EXAMPLES / "physics" / "model.pt2"
SPEC = "x:float[3]=-1..1"


def _tasks(folder: Path) -> dict[str, Callable[[], np.ndarray]]:
    """Four different models through four different loaders, each returning its outputs."""
    torch.manual_seed(0)
    tanh = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    normed = nn.Sequential(nn.Linear(3, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 1))
    batchnorm = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    batchnorm.eval()
    torch.jit.script(normed).save(str(folder / "normed.pt"))
    x = np.random.default_rng(0).uniform(-1, 1, (32, 3)).astype(np.float32)
    points = np.random.default_rng(1).uniform(1, 3, (32, 3)).astype(np.float32)

    def saved_then_compiled() -> np.ndarray:
        path = folder / f"tanh-{threading.get_ident()}.pt2"
        nnc.save_model(tanh, path, [SPEC])
        return nnc.compile(path, mode="exact")(x)

    return {
        "module": lambda: nnc.compile(batchnorm, [SPEC], mode="exact")(x),
        "torchscript": lambda: nnc.compile(folder / "normed.pt", [SPEC], mode="exact")(x),
        "pt2 saved in the thread": saved_then_compiled,
        "physics pt2": lambda: nnc.compile(PHYSICS, mode="exact")(points),
    }


def _run_together(tasks: dict[str, Callable[[], np.ndarray]]) -> dict[str, object]:
    """Every task in its own thread, started together; each result or the exception it raised."""
    results: dict[str, object] = {}
    start = threading.Barrier(len(tasks))

    def run(name: str) -> None:
        start.wait()
        try:
            results[name] = tasks[name]()
        except Exception as error:  # noqa: BLE001 - collected, compared below
            results[name] = error

    threads = [threading.Thread(target=run, args=(name,)) for name in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(scope="module")
def serial(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """The tasks and what each gives when run alone, one after the other."""
    tasks = _tasks(tmp_path_factory.mktemp("threads"))
    return tasks, {name: task() for name, task in tasks.items()}


def test_four_threads_give_what_one_thread_gives(
    serial: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    tasks, expected = serial
    together = _run_together(tasks)
    for name, alone in expected.items():
        got = together[name]
        assert isinstance(got, np.ndarray), f"{name}: {got!r}"
        np.testing.assert_array_equal(got, alone, err_msg=name)


def test_a_failing_compile_beside_others_poisons_nothing(
    serial: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    tasks, expected = serial
    failing = {
        "wrong spec": lambda: nnc.compile(GROKKING, ["tokens:int[3]=0..500"], mode="exact"),
        "module": tasks["module"],
    }
    together = _run_together(failing)
    assert isinstance(together["wrong spec"], nnc.InputError)
    np.testing.assert_array_equal(together["module"], expected["module"])
    np.testing.assert_array_equal(tasks["physics pt2"](), expected["physics pt2"])  # and after
