"""Options are validated before any work: unknown names get a did-you-mean, bad values say what
is allowed, strings become tuples."""

from __future__ import annotations

import pytest
from nnc.errors import InputError
from nnc.options import (
    DEBUG_LEVELS,
    Options,
    OutputSemantics,
    debug_level,
    make_options,
    parse_output,
)


def test_defaults_are_the_dataclass_defaults() -> None:
    assert make_options() == Options()
    assert Options().mode == "auto" and Options().output == OutputSemantics("raw")


def test_a_misspelt_option_gets_a_suggestion() -> None:
    with pytest.raises(InputError, match="unknown option 'sr_second'") as caught:
        make_options(sr_second=3)
    assert caught.value.hint == "did you mean 'sr_seconds'?"


def test_an_unknown_option_without_a_close_name_lists_them_all() -> None:
    with pytest.raises(InputError) as caught:
        make_options(zzzz=1)
    assert caught.value.hint.startswith("known options: mode, output, passes")


def test_comma_separated_strings_and_lists_become_tuples() -> None:
    options = make_options(passes="fold, prune,,lower", symbolic=["edge"], print_after="fold")
    assert options.passes == ("fold", "prune", "lower")
    assert options.symbolic == ("edge",) and options.print_after == ("fold",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("raw", OutputSemantics("raw")),
        ("argmax", OutputSemantics("argmax")),
        ("threshold=0.25", OutputSemantics("threshold", 0.25)),
    ],
)
def test_output_semantics(text: str, expected: OutputSemantics) -> None:
    assert parse_output(text) == expected and make_options(output=text).output == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["softmax", "threshold=", "threshold=high"])
def test_bad_output_semantics(text: str) -> None:
    with pytest.raises(InputError, match="is not understood") as caught:
        parse_output(text)
    assert "threshold=0.5" in caught.value.hint


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "fast"}, "unknown mode 'fast'"),
        ({"cpu": "arm"}, "unknown cpu 'arm'"),
        ({"samples": 0}, "option samples=0 must be at least 1"),
        ({"enumerate_limit": 0}, "option enumerate_limit=0 must be at least 1"),
        ({"engine": "operom"}, "unknown engine 'operom'"),
        ({"prune_budget": -1e-3}, "option prune_budget=-0.001 must be at least 0"),
        ({"prune_budget": float("nan")}, "option prune_budget=nan is not a finite number"),
        ({"min_agreement": 0}, r"option min_agreement=0.0 must be in \(0, 1\]"),
        ({"min_agreement": 1.5}, r"option min_agreement=1.5 must be in \(0, 1\]"),
        ({"tolerance": 0}, "option tolerance=0.0 must be a positive number"),
        ({"debug": 9}, "option debug=9 must be a level from 0 to 4"),
    ],
)
def test_bad_values_are_refused_before_any_work(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_options(**options)


def test_a_misspelt_engine_gets_a_suggestion() -> None:
    with pytest.raises(InputError) as caught:
        make_options(engine="operom")
    assert caught.value.hint == "did you mean 'operon'?"


@pytest.mark.parametrize(("text", "level"), [(None, 0), ("", 0), ("0", 0), ("1", 1), (" 4", 4)])
def test_nnc_debug_levels(text: str | None, level: int) -> None:
    assert debug_level(text) == level


@pytest.mark.parametrize("text", ["yes", "5", "-1", "2.0"])
def test_nnc_debug_that_is_not_a_level(text: str) -> None:
    with pytest.raises(InputError, match="is not a debug level"):
        debug_level(text)


def test_debug_levels_are_consecutive_from_zero() -> None:
    assert list(DEBUG_LEVELS) == list(range(len(DEBUG_LEVELS)))
