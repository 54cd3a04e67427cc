"""The `nnc` command: compile a model file to a shared library and header, or inspect either.

    nnc model.pt2 --input 'x:float[3]=1..3' -o algo.so
    nnc inspect model.pt2 --input 'x:float[3]=1..3'
    nnc show algo.so --asm

Errors print one line and a hint, and exit with the code of their class (see `EXIT_CODES`);
NNC_DEBUG=1 shows the traceback. A reader that closes the pipe early (`nnc show x.so | head`)
ends the command quietly with exit code 141, as other Unix tools do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError, MissingDependencyError, NNCError, exit_code
from .version import __version__

__all__ = ["COMMANDS", "all_parsers", "main"]

BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away
EXIT_TEXT = (
    "exit codes: 0 ok, 2 bad input, 3 verification failed, 4 missing dependency, 5 backend "
    "(LLVM or linker), 70 internal error, 141 output pipe closed"
)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=100)


def _compile_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {usage:<36} {summary}" for usage, summary in _usage_lines())
    parser = argparse.ArgumentParser(
        prog="nnc",
        formatter_class=_formatter,
        description="Compile a trained PyTorch model into a native shared library (algo.so + "
        "algo.h)\nthat computes what the network computes, verified against it.",
        epilog=f"commands:\n{commands}\n\nexamples:\n"
        "  nnc examples/physics/model.pt2 -o /tmp/algo.so\n"
        "  nnc model.pt2 --input 'x:float[1,28,28]=0..1' --output argmax -o digits.so\n"
        "  nnc model.pt2 --input 'x:float[3]=1..3' --report report.html -o law.so\n\n" + EXIT_TEXT,
    )
    parser.add_argument(
        "model",
        help="a .pt2 (torch.export.save or nnc.save_model), TorchScript file, or a "
        "pickled module with --trust-pickle",
    )
    parser.add_argument(
        "-o", "--out", required=True, help="the shared library to write (NAME.so; NAME.h beside)"
    )
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
        "--accept-mismatch",
        action="store_true",
        help="write the library even when verification fails",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write a report for people: FILE.html (one self-contained page with "
        "pictures) or FILE.md (Markdown, pictures beside it)",
    )
    _output_flags(parser, "the report as JSON (docs/report.schema.json)")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SPEC",
        help="an input spec, e.g. 'x:float[3]=1..3' or 'img:float[1,28,28]=0..1' (repeat per "
        "input; a .pt2 from nnc.save_model carries its own)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow loading a pickled whole module (runs code from the file)",
    )


def _output_flags(parser: argparse.ArgumentParser, json_help: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {json_help} on stdout")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only errors (the exit code says the rest)"
    )


def _inspect_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnc inspect",
        formatter_class=_formatter,
        description="Trace a model and print its graph, parameter count and op coverage.",
        epilog="example:\n  nnc inspect examples/physics/model.pt2\n"
        "  nnc inspect model.pt --input 'x:float[3]=1..3' --json\n\n" + EXIT_TEXT,
    )
    parser.add_argument("model")
    _common(parser)
    _output_flags(parser, "the op coverage and graph as JSON (docs/inspect.schema.json)")
    return parser


def _show_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnc show",
        formatter_class=_formatter,
        description="Describe a library nnc wrote: its closed form, verification, every "
        "function it exports,\nand (--asm) their machine code.",
        epilog="example:\n  nnc show algo.so --asm\n\n" + EXIT_TEXT,
    )
    parser.add_argument("library")
    parser.add_argument(
        "--name",
        metavar="PREFIX",
        help="the library's symbol prefix, when its file name does not start with it",
    )
    parser.add_argument(
        "--asm",
        action="store_true",
        help="disassemble every exported function (needs objdump, from binutils)",
    )
    _output_flags(parser, "the metadata, exports (and code) as JSON (docs/show.schema.json)")
    return parser


def _listing_parser(prog: str, what: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"nnc {prog}",
        formatter_class=_formatter,
        description=f"List {what}.",
        epilog=f"example:\n  nnc {prog} | head\n  nnc {prog} --json",
    )
    _output_flags(parser, f"{what} as a JSON list")
    return parser


def _usage_lines() -> list[tuple[str, str]]:
    lines = [("nnc MODEL -o NAME.so [options]", "compile (the options above)")]
    lines += [(usage, summary) for usage, summary, _, _ in COMMANDS.values()]
    return lines + [("nnc --version", "nnc's version and the versions it runs with")]


def all_parsers() -> list[argparse.ArgumentParser]:
    """Every parser of the command (compile first): the options a hint may name."""
    return [_compile_parser()] + [build() for _, _, build, _ in COMMANDS.values()]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit-time flush
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except NNCError as error:
        if isinstance(error.__cause__, BrokenPipeError):
            return _quiet_broken_pipe()
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


def _run(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-V"]):
        print(_version())
        return 0
    if args[:1] and args[0] in COMMANDS:
        _, _, build, run = COMMANDS[args[0]]
        return run(build().parse_args(args[1:]))
    return _compile(_compile_parser().parse_args(args))


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away: stop writing, and keep Python's exit-time flush from
    raising again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (e.g. captured by a test)
        pass
    return BROKEN_PIPE


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("torch", "llvmlite", "sympy"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} missing")
    return f"nnc {__version__} ({', '.join(found)}; Python {sys.version.split()[0]})"


def _check_library_path(path: Path) -> None:
    if path.suffix != ".so":
        stem = path.name.split(".")[0] or "algo"
        raise InputError(
            f"-o {str(path)!r}: nnc writes a shared library, whose name must end in .so",
            hint=f"write -o {path.with_name(stem + '.so')} (the header goes beside it as {stem}.h)",
        )


def _check_report_path(path: Path) -> None:
    from .report import REPORT_WRITERS

    if path.suffix not in REPORT_WRITERS:
        raise InputError(
            f"--report {str(path)!r}: a report is an .html page or a .md file",
            hint=f"write --report {path.with_suffix('.html')} or --report {path.with_suffix('.md')}",
        )
    if path.suffix == ".html":
        from .figures import pyplot

        pyplot()  # its pictures need matplotlib: say so before any work


def _compile(args: argparse.Namespace) -> int:
    from nnc.backends.aot import check_output_path

    from .api import compile
    from .progress import Progress, live_display

    out = Path(args.out)
    check_output_path(out)
    _check_library_path(out)
    report_path = Path(args.report) if args.report else None
    if report_path is not None:
        _check_report_path(report_path)
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
    progress = Progress()
    with live_display(progress, enabled=not (args.quiet or args.json)):
        artifact = compile(args.model, args.input or None, progress=progress, **options)
        with progress.task(f"writing {out.name}"):
            artifact.save(out, name=args.name)
        if report_path is not None:
            with progress.task(f"writing {report_path.name}"):
                artifact.report.write(report_path)
    if args.json:
        print(json.dumps(artifact.report.to_json(), indent=2))
    elif not args.quiet:
        _print_summary(artifact.report)
        written = [f"{out} ({out.stat().st_size / 1024:.1f} KiB)", str(out.with_suffix(".h"))]
        written += [str(report_path)] if report_path is not None else []
        print("\nwrote " + ", ".join(written))
    return 0


def _print_summary(report: Any) -> None:
    """Colour and two-dimensional formulas on a terminal; plain text otherwise."""
    if not sys.stdout.isatty():
        print(report.text())
        return
    from rich.console import Console

    from .summary import print_summary

    print_summary(report, Console(highlight=False), pretty=True)


def _show(args: argparse.Namespace) -> int:
    from nnc.backends.loader import load

    library = load(args.library, args.name)
    meta = library.metadata
    code = _disassemble(args.library, library.exports) if args.asm else {}
    if args.json:
        found = {"library": args.library, "exports": list(library.exports), "metadata": meta}
        print(json.dumps({**found, "disassembly": code} if args.asm else found, indent=2))
        return 0
    if args.quiet:
        return 0
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
    print("exports: " + ", ".join(library.exports))
    for symbol, body in code.items():
        print(f"\n{symbol}:\n{body}")
    return 0


def _disassemble(library: str, symbols: Sequence[str]) -> dict[str, str]:
    """objdump's listing of each exported function."""
    import shutil
    import subprocess

    if shutil.which("objdump") is None:
        raise MissingDependencyError("--asm needs objdump", hint="apt-get install binutils")
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", library], capture_output=True, text=True, check=True
    ).stdout
    return {s: listing.split(f"<{s}>:", 1)[-1].strip().split("\n\n")[0] for s in symbols}


def _list(names: list[str], title: str, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(names, indent=2))
    elif not args.quiet:
        print(title)
        for name in names:
            print(f"  {name}")
    return 0


def _list_ops(args: argparse.Namespace) -> int:
    from .frontend import LOWERINGS

    names = sorted({str(op) for op in LOWERINGS})
    return _list(
        names, "ATen ops nnc compiles (after torch.export's core-ATen decomposition):", args
    )


def _list_passes(args: argparse.Namespace) -> int:
    from nnc.passes import PIPELINES

    from .pipeline import PASSES

    if args.json:
        print(json.dumps({n: p.description for n, p in PASSES.items()}, indent=2))
        return 0
    modes = {name: [mode for mode, names in PIPELINES.items() if name in names] for name in PASSES}
    lines = [
        f"{name:<8} {p.description} ({'exact' if p.exact else 'may approximate'}; "
        f"{', '.join(modes[name]) or 'only with --passes'})"
        for name, p in PASSES.items()
    ]
    return _list(lines, "passes (what each does; which modes run it):", args)


def _inspect(args: argparse.Namespace) -> int:
    from .frontend import LOWERINGS, to_graph, trace
    from .modelfile import load_model
    from .spec import parse_inputs

    loaded = load_model(args.model, args.trust_pickle)
    specs = parse_inputs(args.input or loaded.inputs)
    program = trace(loaded.module, specs)
    used = Counter(str(n.target) for n in program.graph.nodes if n.op == "call_function")
    supported = {str(k) for k in LOWERINGS} | {"<built-in function getitem>"}
    coverage = [
        {"op": op, "count": count, "supported": op in supported}
        for op, count in sorted(used.items())
    ]
    if not args.json and not args.quiet:
        print("op coverage (ATen op: count):")
        for row in coverage:
            print(f"  {'ok ' if row['supported'] else 'NO '} {row['op']}: {row['count']}")
    graph = to_graph(program, specs)
    if args.json:
        print(
            json.dumps(
                {
                    "coverage": coverage,
                    "nodes": len(graph),
                    "parameters": graph.parameter_count(),
                    "graph": graph.format().splitlines(),
                },
                indent=2,
            )
        )
    elif not args.quiet:
        print(graph.format())
        print(f"{len(graph)} nodes, {graph.parameter_count():,} parameters")
    return 0


# subcommand → (usage, what it does, parser, handler); the compile command is `nnc MODEL -o ...`
COMMANDS: dict[str, tuple[str, str, Callable[[], argparse.ArgumentParser], Any]] = {
    "inspect": (
        "nnc inspect MODEL [--input SPEC]",
        "trace a model: its graph, parameters, op coverage",
        _inspect_parser,
        _inspect,
    ),
    "show": (
        "nnc show NAME.so [--asm]",
        "describe a library nnc wrote: closed form, exports, code",
        _show_parser,
        _show,
    ),
    "--list-ops": (
        "nnc --list-ops",
        "the ATen ops nnc compiles",
        lambda: _listing_parser("--list-ops", "the ATen ops nnc compiles"),
        _list_ops,
    ),
    "--list-passes": (
        "nnc --list-passes",
        "the passes, what each does, which modes run it",
        lambda: _listing_parser("--list-passes", "the passes"),
        _list_passes,
    ),
}


if __name__ == "__main__":
    sys.exit(main())
