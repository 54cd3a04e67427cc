"""The `nnc` command's arguments: one parser per command, each `--help` with an example, and the
compile command's help listing every command."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable

from .options import DEBUG_LEVELS

__all__ = [
    "COMMANDS",
    "EXIT_TEXT",
    "all_parsers",
    "compile_parser",
    "inspect_parser",
    "listing_parser",
    "show_parser",
]

EXIT_TEXT = (
    "exit codes: 0 ok, 2 bad input, 3 verification failed, 4 missing dependency,\n"
    "5 backend (LLVM or linker), 70 internal error, 130/143 interrupted (SIGINT/SIGTERM),\n"
    "141 output pipe closed"
)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=100)


def compile_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {usage:<36} {summary}" for usage, summary in _usage_lines())
    parser = argparse.ArgumentParser(
        prog="nnc",
        formatter_class=_formatter,
        description="Compile a trained PyTorch model into a native shared library (algo.so + "
        "algo.h)\nthat computes what the network computes, verified against it.",
        epilog=f"commands:\n{commands}\n\nexamples:\n"
        "  nnc examples/physics/model.pt2 -o /tmp/algo.so\n"
        "  nnc model.pt2 --input 'x:float[1,28,28]=0..1' --output argmax -o digits.so\n"
        "  nnc model.pt2 --input 'x:float[3]=1..3' --report report.html -o law.so\n\n"
        + EXIT_TEXT
        + "\n\nNNC_DEBUG=N logs more while it runs:\n"
        + "\n".join(
            textwrap.fill(what, 96, initial_indent=f"  {level}: ", subsequent_indent="     ")
            for level, what in DEBUG_LEVELS.items()
        ),
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
        help="time limit of each engine search, a safety net (default 30)",
    )
    parser.add_argument(
        "--sr-evaluations",
        type=int,
        help="budget of each engine search in formula evaluations (default 100000): the same "
        "seed gives the same formula on any machine",
    )
    parser.add_argument(
        "--approximate-formulas",
        action="store_true",
        help="in auto mode, accept a formula that passes the gate even when it is a fit rather "
        "than a law (the report says it is an approximation)",
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
        "--output-units",
        metavar="UNITS",
        help="comma-separated physical unit of each output element (one: all), e.g. N or "
        "'kg*m/s^2'; with units on the inputs ('m:float=1..5 kg') the law is searched in "
        "dimensionless groups",
    )
    parser.add_argument(
        "--explain-units",
        action="append",
        default=[],
        metavar="TARGET",
        help="find a verified formula for every unit of a module's output, or of MODULE.NODE "
        "(e.g. blocks.0.mlp.relu), and group the units by form in the report (repeatable)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="local processes for independent searches and exhaustive checks "
        "(default: one per core; 1 runs everything in this process)",
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run those on a Dask cluster instead, e.g. tcp://10.0.0.5:8786 (pip install "
        "'nnc[cluster]')",
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
        "--print-after",
        action="append",
        default=[],
        metavar="PASS",
        help="print the graph after this pass (repeat, or comma-separate; 'all': after the front "
        "end and every pass)",
    )
    parser.add_argument(
        "--cpu",
        default="host",
        choices=("host", "generic"),
        help="optimise for this machine (host) or any x86-64 (generic)",
    )
    parser.add_argument(
        "--precision",
        default="network",
        choices=("network", "double"),
        help="compute float32 layers in float32, as the network does (network, the default), "
        "or every float value in double",
    )
    parser.add_argument("--tolerance", type=float, help="max relative error accepted")
    parser.add_argument(
        "--outside",
        choices=("check", "clamp", "allow"),
        help="what the library does with inputs outside the verified domain: check (default: "
        "NaN or -1 and a count), clamp (into the domain's box), allow (no check, fastest)",
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help="raise a resource limit: max_input_elements (default 1e6), max_points_bytes "
        "(4 GiB), max_parameters (1e8)",
    )
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


def inspect_parser() -> argparse.ArgumentParser:
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


def show_parser() -> argparse.ArgumentParser:
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


def listing_parser(prog: str, what: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"nnc {prog}",
        formatter_class=_formatter,
        description=f"List {what}.",
        epilog=f"example:\n  nnc {prog} | head\n  nnc {prog} --json",
    )
    _output_flags(parser, f"{what} as a JSON list")
    return parser


# command → (usage, what it does, its parser); the compile command is `nnc MODEL -o NAME.so`
COMMANDS: dict[str, tuple[str, str, Callable[[], argparse.ArgumentParser]]] = {
    "inspect": (
        "nnc inspect MODEL [--input SPEC]",
        "trace a model: its graph, parameters, op coverage",
        inspect_parser,
    ),
    "show": (
        "nnc show NAME.so [--asm]",
        "describe a library nnc wrote: closed form, exports, code",
        show_parser,
    ),
    "--list-ops": (
        "nnc --list-ops",
        "the ATen ops nnc compiles",
        lambda: listing_parser("--list-ops", "the ATen ops nnc compiles"),
    ),
    "--list-passes": (
        "nnc --list-passes",
        "the passes, what each does, which modes run it",
        lambda: listing_parser("--list-passes", "the passes"),
    ),
}


def _usage_lines() -> list[tuple[str, str]]:
    lines = [("nnc MODEL -o NAME.so [options]", "compile (the options above)")]
    lines += [(usage, summary) for usage, summary, _ in COMMANDS.values()]
    return lines + [("nnc --version", "nnc's version and the versions it runs with")]


def all_parsers() -> list[argparse.ArgumentParser]:
    """Every parser of the command (compile first): the options a hint may name."""
    return [compile_parser()] + [build() for _, _, build in COMMANDS.values()]
