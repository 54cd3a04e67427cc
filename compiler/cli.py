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
import sys
import traceback
from collections import Counter
from collections.abc import Sequence

from .errors import NNCError, exit_code

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
    parser.add_argument(
        "--name",
        help="prefix of the C functions (default: the output's stem as a C identifier, "
        "my-model.so → my_model)",
    )
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
    try:
        if args[:1] == ["--list-ops"]:
            return _list_ops()
        if args[:1] == ["show"]:
            return _show(_show_parser().parse_args(args[1:]))
        if args[:1] == ["inspect"]:
            return _inspect(_inspect_parser().parse_args(args[1:]))
        return _compile(_compile_parser().parse_args(args))
    except NNCError as error:
        if os.environ.get("NNC_DEBUG"):
            traceback.print_exc()
        print(f"nnc: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"nnc: hint: {error.hint}", file=sys.stderr)
        return exit_code(error)
    except Exception as error:  # noqa: BLE001 - report, never a bare traceback
        if os.environ.get("NNC_DEBUG"):
            traceback.print_exc()
        print(f"nnc: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print(
            "nnc: hint: this is a bug in nnc; rerun with NNC_DEBUG=1 and report the traceback",
            file=sys.stderr,
        )
        return 70


def _compile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnc.backends.aot import check_output_path

    from .api import compile

    check_output_path(Path(args.out))
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
    ):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    log = (lambda line: None) if args.quiet or args.json else (lambda line: print(f"nnc: {line}"))
    artifact = compile(args.model, args.input or None, log=log, **options)
    out = artifact.save(Path(args.out), name=args.name)
    if args.report:
        artifact.report.write_markdown(Path(args.report))
    if args.json:
        print(json.dumps(artifact.report.to_json(), indent=2))
    elif not args.quiet:
        print(artifact.report.text())
        print(f"wrote {out} and {out.with_suffix('.h')}")
    return 0


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

    from .automaton import Automaton
    from .errors import MissingDependencyError

    library = load(args.library)
    meta = library.metadata
    verification = meta["verification"]
    print(
        f"{args.library}: nnc {meta['nnc_version']}, C prefix {library.prefix}, mode "
        f"{meta['mode']}, output {meta['output']['semantics']}"
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
    automaton = meta["abi"].get("automaton")
    if automaton is not None:
        symbols[-1:-1] = [names.string_entry, names.step_entry, names.decision_entry]
        print(f"automaton verified against the network on {automaton['verified']}:")
        print(Automaton.from_json(automaton).table())
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
    """Print the op coverage, then the graph; an unsupported model lists every op it cannot
    compile, where the user wrote it, and exits 2."""
    import operator

    from .errors import UnsupportedOpError
    from .frontend import op_name, to_graph, trace
    from .modelfile import load_model
    from .spec import parse_inputs

    loaded = load_model(args.model, args.trust_pickle)
    specs = parse_inputs(args.input or loaded.inputs)
    program = trace(loaded.module, specs)
    calls = [n for n in program.graph.nodes if n.op == "call_function"]
    used = Counter(op_name(n) for n in calls if n.target is not operator.getitem)
    try:
        graph = to_graph(program, specs)
    except UnsupportedOpError as error:
        _print_coverage(used, {p.op for p in error.problems})
        raise
    _print_coverage(used, set())
    print(graph.format())
    print(f"{len(graph)} nodes, {graph.parameter_count():,} parameters")
    return 0


def _print_coverage(used: Counter, refused: set[str]) -> None:
    print("op coverage (ATen op: count):")
    for op, count in sorted(used.items()):
        print(f"  {'NO ' if op in refused else 'ok '} {op}: {count}")


if __name__ == "__main__":
    sys.exit(main())
