"""The report's plots, drawn with matplotlib from what a compile measured: network vs artifact along
each input (or one against the other), decisions as a confusion matrix, the Pareto front of a
formula search with the choice marked, and mechanism evidence such as an embedding's spectrum."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .errors import MissingDependencyError
from .report_data import Curves

__all__ = [
    "EVIDENCE_FIGURES",
    "MAX_CONFUSION_CLASSES",
    "confusion_figure",
    "figure_bytes",
    "pareto_figure",
    "pyplot",
    "scatter_figure",
    "spectrum_figure",
    "sweep_figure",
]

MAX_CONFUSION_CLASSES = 20  # beyond this many classes a confusion matrix is a grey square
NETWORK, ARTIFACT, CHOSEN = "tab:blue", "tab:orange", "tab:red"


def pyplot() -> Any:
    """matplotlib's pyplot on a file-only backend, or a MissingDependencyError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise MissingDependencyError(
            "the report's pictures need matplotlib", hint="pip install 'nnc[report]'"
        ) from error
    return plt


def figure_bytes(figure: Any, kind: str = "svg") -> bytes:
    """The figure as SVG (text drawn as paths: no fonts needed to view it) or PNG, then closed."""
    plt = pyplot()
    out = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "nnc"}):
        figure.savefig(out, format=kind, dpi=100, metadata=_no_date(kind))
    plt.close(figure)
    return out.getvalue()


def _no_date(kind: str) -> dict[str, Any]:
    """Metadata without a creation date, so two reports of one compile are identical."""
    return {"Date": None} if kind == "svg" else {}


def sweep_figure(curves: Curves, output_names: list[str]) -> Any | None:
    """Per free input element: network and artifact along it (top) and their difference (bottom)."""
    if not curves.sweeps:
        return None
    plt = pyplot()
    count = len(curves.sweeps)
    figure, axes = plt.subplots(2, count, figsize=(3.6 * count, 4.6), squeeze=False)
    for k, sweep in enumerate(curves.sweeps):
        top, bottom = axes[0, k], axes[1, k]
        for j in range(sweep.network.shape[1]):
            name = output_names[j] if j < len(output_names) else f"y[{j}]"
            top.plot(sweep.values, sweep.network[:, j], color=NETWORK, label=f"network {name}")
            top.plot(
                sweep.values,
                sweep.artifact[:, j],
                color=ARTIFACT,
                linestyle="--",
                label=f"artifact {name}",
            )
            bottom.plot(sweep.values, sweep.artifact[:, j] - sweep.network[:, j], color=CHOSEN)
        held = ", ".join(f"{n}={v:g}" for n, v in sweep.base.items())
        top.set_title(f"along {sweep.element}" + (f" ({held})" if held else ""), fontsize=9)
        bottom.set_xlabel(sweep.element)
        bottom.axhline(0, color="grey", linewidth=0.5)
        if k == 0:
            top.set_ylabel("output")
            bottom.set_ylabel("artifact − network")
            top.legend(fontsize=7)
    figure.tight_layout()
    return figure


def scatter_figure(curves: Curves, output_names: list[str]) -> Any | None:
    """Artifact against network on the verification points (raw values), with the diagonal."""
    if curves.decisions or curves.network is None or curves.artifact is None:
        return None
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    for j in range(curves.network.shape[1]):
        name = output_names[j] if j < len(output_names) else f"y[{j}]"
        axis.scatter(curves.network[:, j], curves.artifact[:, j], s=3, alpha=0.5, label=name)
    low = float(np.nanmin(curves.network))
    high = float(np.nanmax(curves.network))
    axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
    axis.set(xlabel="network", ylabel="artifact", title="artifact vs network, verification points")
    if curves.network.shape[1] > 1:
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def confusion_figure(curves: Curves) -> Any | None:
    """Counts of (network decision, artifact decision) when there are few classes."""
    if not curves.decisions or curves.network is None or curves.artifact is None:
        return None
    expected = curves.network[:, 0].astype(np.int64)
    got = curves.artifact[:, 0].astype(np.int64)
    classes = np.union1d(expected, got)
    if len(classes) > MAX_CONFUSION_CLASSES:
        return None
    index = {c: i for i, c in enumerate(classes.tolist())}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for e, g in zip(expected.tolist(), got.tolist()):
        counts[index[e], index[g]] += 1
    plt = pyplot()
    size = 1.6 + 0.35 * len(classes)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(counts, cmap="Blues")
    for i in range(len(classes)):
        for k in range(len(classes)):
            if counts[i, k]:
                axis.text(k, i, str(counts[i, k]), ha="center", va="center", fontsize=7)
    axis.set_xticks(range(len(classes)), [str(c) for c in classes])
    axis.set_yticks(range(len(classes)), [str(c) for c in classes])
    axis.set(xlabel="artifact", ylabel="network", title="decisions on the verification points")
    figure.colorbar(image, ax=axis, shrink=0.8)
    figure.tight_layout()
    return figure


def pareto_figure(search: dict[str, Any], gate: dict[str, float] | None) -> Any:
    """Complexity against error of the Pareto-optimal candidates, the chosen one marked."""
    plt = pyplot()
    front = search["front"]
    figure, axis = plt.subplots(figsize=(5.2, 3.4))
    complexity = [c["complexity"] for c in front]
    rmse = [max(c["rel_rmse"], 1e-16) for c in front]
    axis.plot(complexity, rmse, marker="o", color=NETWORK, label="Pareto front")
    chosen = search.get("chosen")
    if chosen is not None:
        axis.scatter(
            [complexity[chosen]],
            [rmse[chosen]],
            s=140,
            facecolors="none",
            edgecolors=CHOSEN,
            linewidths=2,
            label="chosen",
            zorder=3,
        )
    if gate:
        axis.axhline(gate["rmse"], color="grey", linestyle=":", label="gate (rel RMSE)")
    axis.set_yscale("log")
    axis.set(xlabel="complexity", ylabel="rel RMSE on validation samples")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def spectrum_figure(spectrum: dict[str, Any]) -> Any:
    """Bar chart of the embedding's norm per frequency, key frequencies highlighted."""
    plt = pyplot()
    share = spectrum["share"]
    keys = set(spectrum["key frequencies"])
    figure, axis = plt.subplots(figsize=(9, 3))
    axis.bar(
        range(1, len(share)),
        share[1:],
        color=[CHOSEN if k in keys else "tab:gray" for k in range(1, len(share))],
    )
    axis.set(
        xlabel=f"frequency k (over {spectrum['tokens']} tokens)",
        ylabel="share of embedding norm",
        title="token embedding spectrum (key frequencies in red)",
    )
    figure.tight_layout()
    return figure


# Mechanism evidence a pass attached (PassRecord.data key) → (section title, figure, caption).
# NOTE: the hook for new evidence (e.g. extracted automata): add a row; both reports show it.
EVIDENCE_FIGURES: dict[str, tuple[str, Any, Any]] = {
    "embedding spectrum": (
        "Fourier spectrum of the token embedding",
        spectrum_figure,
        lambda data: f"Key frequencies: {data['key frequencies']}.",
    ),
}
