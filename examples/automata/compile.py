"""Compile each trained GRU of train.py to its automaton, check it against the true language, and
time it against the network.

    python examples/automata/compile.py [OUT]      # OUT (default ./automata-build) gets the .so,
                                                   # .h, report-<name>.md and drawings

For each checkpoint: nnc.compile (re-rolling the GRU, extracting the automaton, verifying it on
every string up to length 12 and on 2000 longer ones), then the automaton and the network against
the language itself on every string of length 1..12, then tokens per second of the automaton from C
(main.c: one string of 10^7 tokens, and one token at a time) against the network in torch eager
(one string of 10^5 tokens; 4096 strings of 12) and nnc's faithful compile of the network (the GRU
cell in a loop, 4096 strings of 12). Timings are medians of 5 runs on a shared machine: noisy.
"""

from __future__ import annotations

import itertools
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nnc
import numpy as np
import torch
from languages import BY_NAME
from train import TRACED_LENGTH, Recognizer

HERE = Path(__file__).resolve().parent
# (library name, checkpoint, options): the imperfect network twice, under the default gate (a
# program must agree with the network on 99.9% of the strings) and under min_agreement=0.99
RUNS = [
    ("parity", "parity", {}),
    ("div3", "div3", {}),
    ("has1011", "has1011", {}),
    ("has1011_seed0", "has1011_seed0", {}),
    ("has1011_seed0_99", "has1011_seed0", {"min_agreement": 0.99}),
]
# the passes that matter for a recurrent network; the default pipeline would also try a program or
# an exact table over the 4096 length-12 strings (synth) when the automaton is not kept
PASSES = "fold,reroll,prune,automata"
REPEATS = 5


def every_string(longest: int) -> list[np.ndarray]:
    return [np.array(list(itertools.product((0, 1), repeat=n))) for n in range(1, longest + 1)]


def median_rate(run: object, tokens: int) -> float:
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        rates.append(tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def eager_network(checkpoint: Path) -> torch.nn.Module:
    """The GRU of the checkpoint as a torch module that reads strings of any length."""
    model = Recognizer()
    model.load_state_dict(torch.export.load(str(checkpoint)).state_dict)
    return model.eval()


def against_language(name: str, artifact: nnc.Artifact, network: torch.nn.Module) -> dict:
    """Disagreements with the true language on every string of length 1..12 (nnc's labels are
    only the traced length's)."""
    language = BY_NAME[name]
    wrong = {"network": [], "automaton": []}
    for strings in every_string(TRACED_LENGTH):
        truth = language.labels(strings)
        with torch.no_grad():
            guesses = network(torch.from_numpy(strings)).argmax(-1).numpy()
        wrong["network"] += ["".join(map(str, s)) for s in strings[guesses != truth]]
        if artifact.automaton is not None:
            mine = np.array([artifact.automaton(s) for s in strings])
            wrong["automaton"] += ["".join(map(str, s)) for s in strings[mine != truth]]
    return wrong


def c_rates(name: str, out: Path) -> dict[str, float] | None:
    """Tokens per second from main.c, or None without a C compiler."""
    if shutil.which("cc") is None:
        return None
    binary = out / f"{name}-main"
    subprocess.run(
        [
            "cc",
            "-O2",
            f"-I{out}",
            f"-DLANG={name}",
            f"-DLANG_START={name.upper()}_START",
            f'-DHEADER="{name}.h"',
            str(HERE / "main.c"),
            str(out / f"{name}.so"),
            "-o",
            str(binary),
            f"-Wl,-rpath,{out}",
        ],
        check=True,
    )
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    whole, streamed = (float(v) for v in re.findall(r"(\d+) tokens/s", printed))
    return {"whole": whole, "streamed": streamed}


def torch_rates(network: torch.nn.Module, faithful: nnc.Artifact) -> dict[str, float]:
    rng = np.random.default_rng(0)
    long = torch.from_numpy(rng.integers(0, 2, size=(1, 100_000)))
    batch = rng.integers(0, 2, size=(4096, TRACED_LENGTH))
    with torch.no_grad():
        return {
            "eager_long": median_rate(lambda: network(long), long.numel()),
            "eager_batch": median_rate(lambda: network(torch.from_numpy(batch)), batch.size),
            "faithful_batch": median_rate(lambda: faithful(batch), batch.size),
        }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, source, options in RUNS:
        checkpoint = HERE / f"{source}.pt2"
        strings = every_string(TRACED_LENGTH)[-1]
        labels = (strings, BY_NAME[source.split("_")[0]].labels(strings))
        start = time.perf_counter()
        artifact = nnc.compile(checkpoint, passes=PASSES, labels=labels, **options)
        seconds = time.perf_counter() - start
        (record,) = [r for r in artifact.report.passes if r.name == "automata"]
        print(f"== {name} {options} ({seconds:.1f} s)\n" + "\n".join(record.notes))
        truth = artifact.report.truth
        print(
            f"labels of the {truth['points']} strings of length {TRACED_LENGTH}: the network "
            f"decides {truth['network_wrong']} wrong, the compiled artifact {truth['artifact_wrong']}"
        )
        artifact.save(out / f"{name}.so")
        artifact.report.write(out / f"report-{name}.md")
        network = eager_network(checkpoint)
        wrong = against_language(source.split("_")[0], artifact, network)
        print(
            f"against the language on every string of length 1..{TRACED_LENGTH}: network wrong on "
            f"{len(wrong['network'])} {wrong['network'][:5]}, automaton wrong on "
            f"{len(wrong['automaton'])} {wrong['automaton'][:5]}"
        )
        faithful = nnc.compile(checkpoint, mode="exact")
        rates = torch_rates(network, faithful)
        if artifact.automaton is not None:
            rates.update(c_rates(name, out) or {})
        print(", ".join(f"{k} {v / 1e6:.3g} M tokens/s" for k, v in rates.items()))
        rows.append((name, artifact, record, wrong, rates, seconds))
    print_table(rows)


def print_table(rows: list) -> None:
    print(
        "\n| checkpoint | automaton | verified (network vs automaton) | wrong vs language, "
        "network / automaton | C, whole string | C, one token at a time | torch eager, one "
        "string | torch eager, 4096 × 12 | nnc exact (GRU in a loop), 4096 × 12 | compile |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, artifact, record, wrong, rates, seconds in rows:
        data = record.data["automaton"]
        shape = f"{data['states']} states" + (f", `{data['regex']}`" if data["regex"] else "")
        if not data["accepted"]:
            shape += f" — not kept: {data['reason']}"
        checks = "; ".join(
            f"{c['agreement']}/{c['strings']} of length {c['lengths'][0]}..{c['lengths'][1]}"
            for c in data["checks"]
        )
        rate = {k: f"{v / 1e6:.3g} M" for k, v in rates.items()}
        automaton_wrong = len(wrong["automaton"]) if artifact.automaton is not None else "–"
        print(
            f"| {name} | {shape} | {checks} | {len(wrong['network'])} / {automaton_wrong} | "
            f"{rate.get('whole', '–')} | {rate.get('streamed', '–')} | {rate['eager_long']} | "
            f"{rate['eager_batch']} | {rate['faithful_batch']} | {seconds:.0f} s |"
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("automata-build"))
