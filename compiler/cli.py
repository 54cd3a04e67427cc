"""The `nnc` command: compile a model file to a shared library and header, or inspect either.

    nnc model.pt2 --input 'x:float[3]=1..3' -o algo.so
    nnc inspect model.pt2 --input 'x:float[3]=1..3'
    nnc show algo.so --asm

Errors print one line and a hint, and exit with the code of their class (see `EXIT_CODES`);
NNC_DEBUG=1 shows the traceback, higher levels more (nnc.options.DEBUG_LEVELS). A reader that closes the pipe early (`nnc show x.so | head`)
ends the command quietly with exit code 141, as other Unix tools do.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cli_parsers import COMMANDS, compile_parser
from .console import Interrupted, Signals, captured_warnings, raising_signals
from .errors import InputError, MissingDependencyError, NNCError, exit_code
from .options import debug_level
from .version import __version__

__all__ = ["HANDLERS", "main"]

BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    signals = Signals(standalone=argv is None)
    try:
        with raising_signals(signals):
            code = _run(args, signals)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit-time flush
        return code
    except (Interrupted, KeyboardInterrupt):
        return _interrupted(signals)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except NNCError as error:
        if signals.received:  # the signal surfaced as another error (a killed linker)
            return _interrupted(signals)
        if isinstance(error.__cause__, BrokenPipeError):
            return _quiet_broken_pipe()
        if _tracebacks():
            traceback.print_exc()
        print(f"nnc: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"nnc: hint: {error.hint}", file=sys.stderr)
        return exit_code(error)
    except Exception as error:  # noqa: BLE001 - report, never a bare traceback
        if signals.received:
            return _interrupted(signals)
        if _tracebacks():
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


def _tracebacks() -> bool:
    """NNC_DEBUG set to a level of 1 or more (or to anything unreadable: show more, not less)."""
    return os.environ.get("NNC_DEBUG", "0").strip() not in ("", "0")


def _run(args: list[str], signals: Signals) -> int:
    if args[:1] in (["--version"], ["-V"]):
        print(_version())
        return 0
    if args[:1] and args[0] in COMMANDS:
        build = COMMANDS[args[0]][2]
        return HANDLERS[args[0]](build().parse_args(args[1:]))
    return _compile(compile_parser().parse_args(args), signals)


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


def _compile(args: argparse.Namespace, signals: Signals) -> int:
    from nnc.backends.aot import check_output_path, staged_outputs

    from .api import compile
    from .progress import Progress, live_display

    out = Path(args.out)
    report_path = Path(args.report) if args.report else None
    for path in (out, out.with_suffix(".h"), report_path):
        if path is not None:
            check_output_path(path)  # before any work
    _check_library_path(out)
    if report_path is not None:
        _check_report_path(report_path)
    options = {
        "mode": args.mode,
        "trust": args.trust_pickle,
        "cpu": args.cpu,
        "precision": args.precision,
        "accept_mismatch": args.accept_mismatch,
        "approximate_formulas": args.approximate_formulas,
    }
    for key in (
        "output",
        "passes",
        "tolerance",
        "engine",
        "sr_seconds",
        "sr_evaluations",
        "synth_seconds",
        "seed",
        "symbolic",
        "output_units",
        "gate_rmse",
        "gate_max",
        "outside",
        "workers",
        "cluster",
    ):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.print_after:
        options["print_after"] = ",".join(args.print_after)
    if args.explain_units:
        options["units"] = ",".join(args.explain_units)
    debugging = bool(debug_level(os.environ.get("NNC_DEBUG")) or args.print_after)
    quiet = args.quiet or args.json
    stream = sys.stderr if quiet else sys.stdout  # asked-for debug output keeps stdout clean
    log = (
        (lambda line: None) if not debugging else (lambda line: print(f"nnc: {line}", file=stream))
    )
    options.update(_limits(args.limit))
    progress = Progress()
    with captured_warnings() as warned, staged_outputs() as staging:
        with live_display(progress, enabled=not quiet):
            artifact = compile(
                args.model, args.input or None, log=log, progress=progress, **options
            )
            with progress.task(f"writing {out.name}"):
                artifact.save(out, name=args.name, staging=staging)
            if report_path is not None:
                with progress.task(f"writing {report_path.name}"):
                    artifact.report.write(staging.folder(report_path.parent) / report_path.name)
        signals.done = True  # NOTE: the run is over once committed: all outputs or none
        staging.commit()
        if warned.summary() and not args.quiet:
            print(f"nnc: note: {warned.summary()}", file=sys.stderr)
        if args.json:
            print(json.dumps(artifact.report.to_json(), indent=2))
        elif not args.quiet:
            _print_summary(artifact.report)
            written = [
                f"{out} ({out.stat().st_size / 1024:.1f} KiB)",
                str(out.with_suffix(".h")),
            ]
            written += [str(report_path)] if report_path is not None else []
            print("\nwrote " + ", ".join(written))
            print(f"entries checked against the network: {', '.join(artifact.library_checks)}")
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

    from .automaton import Automaton

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
        f"{args.library}: nnc {meta['nnc_version']}, C prefix {library.prefix}, mode "
        f"{meta['mode']}, output {meta['output']['semantics']}"
    )
    print(f"closed form: {meta.get('closed_form') or '(the faithful network)'}")
    print(
        f"verified on {verification['points']} points (complete domain: "
        f"{verification['complete']}), passed: {verification['passed']}"
    )
    memory = meta.get("working_memory")
    if memory:
        print(
            f"working memory per call: {memory['eval_bytes']:,} bytes (eval), "
            f"{memory['batch_bytes']:,} bytes (batch, {memory['tile']} samples at a time)"
        )
    automaton = meta["abi"].get("automaton")
    if automaton is not None:
        print(f"automaton verified against the network on {automaton['verified']}:")
        print(Automaton.from_json(automaton).table())
    print("exports: " + ", ".join(library.exports))
    print(
        f"computes in: {meta.get('precision', 'double')} precision, cpu {meta.get('cpu', 'host')}"
    )
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
    """The op coverage, then the graph; a model with unsupported ops gets every one listed,
    where the user wrote it, and exit code 2."""
    import operator

    from .errors import UnsupportedOpError
    from .frontend import op_name, to_graph, trace
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
        calls = [n for n in program.graph.nodes if n.op == "call_function"]
        used = Counter(op_name(n) for n in calls if n.target is not operator.getitem)
        try:
            graph, refused = to_graph(program, specs), set()
        except UnsupportedOpError as error:
            graph, refused, failure = None, {p.op for p in error.problems}, error
    coverage = [
        {"op": op, "count": count, "supported": op not in refused}
        for op, count in sorted(used.items())
    ]
    if not args.json and not args.quiet:
        print("op coverage (ATen op: count):")
        for row in coverage:
            print(f"  {'ok ' if row['supported'] else 'NO '} {row['op']}: {row['count']}")
    if graph is None:
        if args.json:
            problems = [vars(p) for p in failure.problems]
            print(json.dumps({"coverage": coverage, "unsupported": problems}, indent=2))
        raise failure
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


# command → what runs it (cli_parsers.COMMANDS holds its usage and parser)
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "inspect": _inspect,
    "show": _show,
    "--list-ops": _list_ops,
    "--list-passes": _list_passes,
}


if __name__ == "__main__":
    sys.exit(main())
