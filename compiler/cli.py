"""The `nnc` command: compile a model file to a shared library and header, or inspect it.

    nnc model.pt2 --input 'x:float[3]=1..3' -o algo.so
    nnc inspect model.pt2 --input 'x:float[3]=1..3'

Errors print one line and a hint, and exit with the code of their class (see `EXIT_CODES`);
NNC_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .console import Interrupted, Signals, captured_warnings, ignored_signals, raising_signals
from .errors import InputError, NNCError, exit_code

__all__ = ["main"]


def _compile_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnc",
        description="Compile a trained PyTorch model into a native shared library (algo.so + "
        "algo.h) that computes what the network computes, verified against it.",
        epilog="Also: `nnc inspect MODEL` prints the traced graph; `nnc show LIB [--asm]` describes "
        "a library; `nnc --list-ops` lists the supported ops. Exit codes: 0 ok, 2 bad "
        "input, 3 verification failed, 4 missing dependency, 5 backend, 70 internal error.",
    )
    parser.add_argument(
        "model",
        help="a .pt2 (torch.export.save), TorchScript file, or a "
        "pickled module with --trust-pickle",
    )
    parser.add_argument("-o", "--out", required=True, help="the shared library to write (.so)")
    _common(parser)
    parser.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "exact", "symbolic"),
        help="auto (default): closed forms where they pass verification, the "
        "faithful network elsewhere; exact: what the network computes, to float "
        "rounding; symbolic: a closed form or an error",
    )
    parser.add_argument("--output", help="raw (default), argmax, or threshold=T")
    parser.add_argument("--name", help="prefix of the C functions (default: the output's stem)")
    parser.add_argument(
        "--engine", help="symbolic regression engine: operon (default), pysr, basis"
    )
    parser.add_argument(
        "--sr-seconds",
        type=float,
        help="time budget of symbolic regression per output (default 30)",
    )
    parser.add_argument(
        "--synth-seconds", type=float, help="time budget of integer-program synthesis (default 60)"
    )
    parser.add_argument(
        "--symbolic",
        metavar="MODULES",
        help="comma-separated modules to distil into closed forms, e.g. --symbolic edge_model",
    )
    parser.add_argument(
        "--gate-rmse",
        type=float,
        help="gate for a closed form: RMSE relative to the network output's RMS (default 0.01)",
    )
    parser.add_argument(
        "--gate-max",
        type=float,
        help="gate for a closed form: max error relative "
        "to the network output's largest magnitude (default 0.05)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0): same seed, same result")
    parser.add_argument("--passes", help="comma-separated passes to run instead of the default")
    parser.add_argument(
        "--cpu",
        default="host",
        choices=("host", "generic"),
        help="optimise for this machine (host) or any x86-64 (generic)",
    )
    parser.add_argument("--tolerance", type=float, help="max relative error accepted")
    parser.add_argument(
        "--outside",
        choices=("check", "clamp", "allow"),
        help="what the library does with inputs outside the verified domain: check (default: "
        "NaN or -1 and a count), clamp (into the domain's box), allow (no check, fastest)",
    )
    parser.add_argument(
        "--accept-mismatch",
        action="store_true",
        help="write the library even when verification fails",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--report",
        metavar="FILE.md",
        help="also write a Markdown report with plots (matplotlib, when installed) beside it",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help="raise a resource limit: max_input_elements (default 1e6), max_points_bytes "
        "(4 GiB), max_parameters (1e8)",
    )
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SPEC",
        help="an input spec, e.g. 'x:float[3]=1..3' (repeat per input)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow loading a pickled whole module (runs code from the file)",
    )


def _inspect_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnc inspect",
        description="Trace a model and print its graph, parameter count and op coverage.",
    )
    parser.add_argument("model")
    _common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    signals = Signals()
    try:
        with raising_signals(signals):
            if args[:1] == ["--list-ops"]:
                return _list_ops()
            if args[:1] == ["show"]:
                return _show(_show_parser().parse_args(args[1:]))
            if args[:1] == ["inspect"]:
                return _inspect(_inspect_parser().parse_args(args[1:]))
            return _compile(_compile_parser().parse_args(args))
    except (Interrupted, KeyboardInterrupt):
        return _interrupted(signals)
    except NNCError as error:
        if signals.received:  # the signal surfaced as another error (a killed linker)
            return _interrupted(signals)
        if os.environ.get("NNC_DEBUG"):
            traceback.print_exc()
        print(f"nnc: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"nnc: hint: {error.hint}", file=sys.stderr)
        return exit_code(error)
    except Exception as error:  # noqa: BLE001 - report, never a bare traceback
        if signals.received:
            return _interrupted(signals)
        if os.environ.get("NNC_DEBUG"):
            traceback.print_exc()
        print(f"nnc: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print(
            "nnc: hint: this is a bug in nnc; rerun with NNC_DEBUG=1 and report the traceback",
            file=sys.stderr,
        )
        return 70


def _interrupted(signals: Signals) -> int:
    name = signal.Signals(signals.received or signal.SIGINT).name
    print(f"nnc: interrupted by {name}; no output was written", file=sys.stderr)
    return signals.exit_code()


def _compile(args: argparse.Namespace) -> int:
    from nnc.backends.aot import check_output_path, staged_outputs

    from .api import compile

    out, report = Path(args.out), Path(args.report) if args.report else None
    for path in (out, out.with_suffix(".h"), report):
        if path is not None:
            check_output_path(path)  # before any work
    options = {
        "mode": args.mode,
        "trust": args.trust_pickle,
        "cpu": args.cpu,
        "accept_mismatch": args.accept_mismatch,
    }
    for key in (
        "output",
        "passes",
        "tolerance",
        "engine",
        "sr_seconds",
        "synth_seconds",
        "seed",
        "symbolic",
        "gate_rmse",
        "gate_max",
        "outside",
    ):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    options.update(_limits(args.limit))
    log = (lambda line: None) if args.quiet or args.json else (lambda line: print(f"nnc: {line}"))
    with captured_warnings() as warned:
        artifact = compile(args.model, args.input or None, log=log, **options)
        with staged_outputs() as staging:
            artifact.save(out, name=args.name, staging=staging)
            if report is not None:
                artifact.report.write_markdown(staging.folder(report.parent) / report.name)
            with ignored_signals():  # NOTE: the run is done once committed: all outputs or none
                staging.commit()
                if warned.summary() and not args.quiet:
                    print(f"nnc: note: {warned.summary()}", file=sys.stderr)
                if args.json:
                    print(json.dumps(artifact.report.to_json(), indent=2))
                elif not args.quiet:
                    print(artifact.report.text())
                    print(f"wrote {out} and {out.with_suffix('.h')}")
    return 0


def _limits(given: Sequence[str]) -> dict[str, float]:
    """--limit NAME=N flags as options (make_options checks the values)."""
    from .options import LIMITS

    out = {}
    for text in given:
        name, _, value = text.partition("=")
        if name not in LIMITS:
            raise InputError(
                f"--limit {text!r}: {name!r} is not a limit",
                hint=f"limits: {', '.join(f'{k} ({v})' for k, v in LIMITS.items())}",
            )
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(
                f"--limit {text!r}: {value!r} is not a number", hint=f"e.g. --limit {name}=2e9"
            ) from None
    return out


def _show_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnc show",
        description="Describe a library nnc wrote: "
        "its closed form, verification, C ABI, and (--asm) its code.",
    )
    parser.add_argument("library")
    parser.add_argument(
        "--asm",
        action="store_true",
        help="disassemble the exported functions (needs objdump, from binutils)",
    )
    return parser


def _show(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from nnc.backends.abi import SymbolNames
    from nnc.backends.loader import load

    from .errors import MissingDependencyError

    library = load(args.library)
    meta = library.metadata
    verification = meta["verification"]
    print(
        f"{args.library}: nnc {meta['nnc_version']}, mode {meta['mode']}, output "
        f"{meta['output']['semantics']}"
    )
    print(f"closed form: {meta.get('closed_form') or '(the faithful network)'}")
    print(
        f"verified on {verification['points']} points (complete domain: "
        f"{verification['complete']}), passed: {verification['passed']}"
    )
    names = SymbolNames(library.prefix)
    symbols = [names.eval, names.eval_batch, names.metadata_symbol]
    if meta["abi"]["scalar"] is not None:
        symbols.insert(0, library.prefix)
    print("exports: " + ", ".join(symbols))
    if args.asm:
        if shutil.which("objdump") is None:
            raise MissingDependencyError("--asm needs objdump", hint="apt-get install binutils")
        for symbol in symbols[:-1]:
            listing = subprocess.run(
                ["objdump", "-d", "--no-show-raw-insn", f"--disassemble={symbol}", args.library],
                capture_output=True,
                text=True,
                check=True,
            )
            body = listing.stdout.split(f"<{symbol}>:", 1)[-1].strip().split("\n\n")[0]
            print(f"\n{symbol}:\n{body}")
    return 0


def _list_ops() -> int:
    from .frontend import LOWERINGS

    print("ATen ops nnc compiles (after torch.export's core-ATen decomposition):")
    for name in sorted({str(op) for op in LOWERINGS}):
        print(f"  {name}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .frontend import LOWERINGS, to_graph, trace
    from .limits import check_input_elements
    from .modelfile import load_model
    from .options import Options
    from .spec_grammar import parse_inputs
    from .torch_model import EXPORT_LOCK

    loaded = load_model(args.model, args.trust_pickle)
    specs = parse_inputs(args.input or loaded.inputs)
    check_input_elements(specs, Options())
    with EXPORT_LOCK:  # tracing and translating, as nnc.compile does
        program = trace(loaded.module, specs)
        used = Counter(str(n.target) for n in program.graph.nodes if n.op == "call_function")
        supported = {str(k) for k in LOWERINGS}
        print("op coverage (ATen op: count):")
        for op, count in sorted(used.items()):
            known = op in supported or op == "<built-in function getitem>"
            print(f"  {'ok ' if known else 'NO '} {op}: {count}")
        graph = to_graph(program, specs)
    print(graph.format())
    print(f"{len(graph)} nodes, {graph.parameter_count():,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
