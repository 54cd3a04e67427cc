"""The input-spec grammar: every documented form, its domain, and errors that point at a column."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from nnc.domain import Domain
from nnc.errors import InputError
from nnc.options import make_options
from nnc.physical_units import parse_unit
from nnc.spec import COUNT_CAP, Range, Values
from nnc.spec_grammar import parse_inputs, parse_spec

PARSE_MEMORY_BYTES = 1 << 20  # a spec's size is its text's, whatever shape it declares


def test_uniform_range_names_elements_by_index() -> None:
    spec = parse_spec("x:float[3]=1..3")
    assert (spec.dtype, spec.shape) == ("float32", (3,))
    assert spec.element_names() == ["x0", "x1", "x2"]
    assert all(spec.element_domain(i) == Range(1.0, 3.0) for i in range(3))
    assert spec.element_count() is None  # continuous


def test_per_element_ranges() -> None:
    spec = parse_spec("x:float[2]=[-1..1, 0..2]")
    assert [spec.element_domain(i) for i in range(2)] == [Range(-1, 1), Range(0, 2)]


def test_named_integer_elements_and_constant() -> None:
    spec = parse_spec("tokens:int[3]=[a:0..112, b:0..112, 113]")
    assert spec.element_names() == ["a", "b", "tokens2"]
    assert spec.element(2).constant == 113
    assert spec.element_count() == 113 * 113


def test_value_sets_and_mixed_lists() -> None:
    assert parse_spec("x:float[4]={0,1}").element_count() == 16
    mixed = parse_spec("x:float[3]=[x0:1..3, x1:1..3, x2:0.5..2]")
    assert mixed.element_domain(2) == Range(0.5, 2.0)
    bits = parse_spec("x:float[4]=[b0:{0,1}, b1:{0,1}, b2:{0,1}, b3:{0,1}]")
    assert bits.element_names() == ["b0", "b1", "b2", "b3"]
    assert bits.element_domain(0) == Values((0.0, 1.0))


def test_calibration_file(tmp_path) -> None:
    samples = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=samples)
    spec = parse_spec("x=@calib.npz", base=tmp_path)
    assert spec.shape == (3,) and spec.calibration is not None
    points, complete = Domain([spec]).points(10**6, 10, 0)
    np.testing.assert_array_equal(points[0], samples)
    assert complete


def test_calibration_tensor_in_python() -> None:
    (spec,) = parse_inputs({"x": torch.rand(20, 2)})
    assert spec.shape == (2,) and len(spec.calibration) == 20


def test_discrete_domain_is_enumerated_entirely() -> None:
    domain = Domain(parse_inputs(["tokens:int[3]=[a:0..112, b:0..112, 113]"]))
    (points,), complete = domain.points(10**6, 100, 0)
    assert complete and points.shape == (12769, 3)
    assert len({tuple(p) for p in points}) == 12769 and (points[:, 2] == 113).all()


def test_ranges_of_the_enumeration_are_computed_from_their_indices() -> None:
    """Any range of points equals the same rows of itertools.product, without the others."""
    specs = parse_inputs(["t:int[3]=[a:0..4, b:{2,5,7}, 9]", "x:float[2]={0,1}"])
    axes = [range(5), (2, 5, 7), (9,), (0, 1), (0, 1)]
    product = np.array(list(itertools.product(*axes)), dtype=np.float64)
    domain = Domain(specs)
    assert domain.size() == len(product) == 60
    for start, stop in ((0, 60), (7, 23), (59, 60)):
        tokens, x = domain.enumerate_range(start, stop)
        assert tokens.dtype == np.int64 and x.dtype == np.float32 and x.shape == (stop - start, 2)
        np.testing.assert_array_equal(np.concatenate([tokens, x], 1), product[start:stop])


def test_a_range_deep_in_a_huge_domain_costs_only_its_points() -> None:
    domain = Domain(parse_inputs(["x:int[5]=0..99"]))  # 10^10 points
    (points,) = domain.enumerate_range(1234567890, 1234567893)
    np.testing.assert_array_equal(
        points, [[12, 34, 56, 78, 90], [12, 34, 56, 78, 91], [12, 34, 56, 78, 92]]
    )


def test_continuous_domain_samples_include_the_corners() -> None:
    (points,), complete = Domain([parse_spec("x:float[2]=[-1..1, 0..2]")]).points(10**6, 500, 0)
    assert not complete and points.shape == (500, 2)
    assert points[:, 0].min() == -1 and points[:, 1].max() == 2
    assert ((points >= [-1, 0]) & (points <= [1, 2])).all()


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("x:float[3]=1..", 15, "a number"),
        ("x:flot[3]=1..3", 3, "a type"),
        ("x:int[3]=1.5..3", 10, "a whole number"),
        ("x:float[2]=[1..2]", 17, "2 elements"),
        ("x:float[3]=3..1", 15, "upper bound"),
        ("x:float[3]=1..3 z", 17, "a unit such as"),  # text after a domain is its unit
        ("x:float[3]=1..3 m,", 18, "the end"),
        ("x:float[0]=1..3", 9, "positive whole number"),
        ("x:float[2]=[a:0..1, a:0..1]", 21, "distinct element names"),
    ],
)
def test_malformed_spec_points_at_the_offending_column(
    text: str, column: int, expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_spec(text)
    message = str(caught.value)
    assert f"column {column}" in message and expected in message
    caret_line = message.splitlines()[2]
    assert caret_line.index("^") - 2 == column - 1  # the caret sits under the offending character


def test_missing_calibration_file() -> None:
    with pytest.raises(InputError, match="does not exist"):
        parse_spec("x=@nowhere.npz")


@pytest.mark.parametrize("text", ["x:float[4096,4096]=0..1", "x:float[100000000]=0..1"])
def test_a_huge_shape_parses_in_constant_memory(text: str) -> None:
    tracemalloc.start()
    spec = parse_spec(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < PARSE_MEMORY_BYTES, f"parsing {text!r} allocated {peak} bytes"
    assert spec.numel >= 4096 * 4096 and spec.element_count() is None
    assert spec.element(spec.numel - 1).name == f"x{spec.numel - 1}"


def test_a_shared_domain_draws_the_points_a_listed_one_draws() -> None:
    """One Range for every element is stored once but sampled as if listed element by element."""
    for shared, listed in [
        ("x:float[3]=0..2", "x:float[3]=[0..2, 0..2, 0..2]"),
        ("x:int[2, 2]=-3..5", "x:int[2, 2]=[-3..5, -3..5, -3..5, -3..5]"),
        ("x:float[3]={0, 0.5, 2}", "x:float[3]=[{0, 0.5, 2}, {0, 0.5, 2}, {0, 0.5, 2}]"),
    ]:
        for limit in (1, 10**6):  # sampled, then enumerated where the domain is discrete
            a, complete_a = Domain([parse_spec(shared)]).points(limit, 300, 5)
            b, complete_b = Domain([parse_spec(listed)]).points(limit, 300, 5)
            np.testing.assert_array_equal(a[0], b[0])
            assert complete_a == complete_b
        np.testing.assert_array_equal(
            Domain([parse_spec(shared)]).space_filling(64, 3)[0],
            Domain([parse_spec(listed)]).space_filling(64, 3)[0],
        )


def test_fixed_elements_are_filled_not_enumerated() -> None:
    (points,), complete = Domain([parse_spec("x:int[5]=[0..2, 7, 7, 0..1, 7]")]).points(100, 1, 0)
    assert complete and points.shape == (6, 5)
    assert (points[:, [1, 2, 4]] == 7).all()
    assert sorted(map(tuple, points[:, [0, 3]].tolist())) == [
        (a, b) for a in range(3) for b in (0, 1)
    ]


def test_point_counts_saturate_instead_of_growing_without_bound() -> None:
    assert parse_spec("x:int[100000000]=0..1").element_count() == COUNT_CAP
    assert parse_spec("x:int[3]=0..1").element_count() == 8
    assert Domain(parse_inputs(["x:int[64]=0..1", "y:int[64]=0..1"])).size() == COUNT_CAP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x:int[2]=0..1e300", "from -9.0072e+15 to 9.0072e+15"),
        ("x:int[2]=0..9007199254740993", "from -9.0072e+15 to 9.0072e+15"),
        ("x:float[2]=0..1e999", "from -3.40282e+38 to 3.40282e+38"),
        ("x:double[2]=-1e308..1e308", "width is a finite double"),
        ("x:int32=0..3000000000", "type int32 holds"),
        ("x:bool[2]=0..2", "type bool holds"),
        ("x:float[1e999]=0..1", "a positive whole number"),
    ],
)
def test_numbers_beyond_the_type_are_refused_at_their_column(text: str, expected: str) -> None:
    with pytest.raises(InputError, match="column") as caught:
        parse_spec(text)
    assert expected in str(caught.value)


def test_element_names_may_not_repeat_across_inputs() -> None:
    with pytest.raises(InputError, match="'x1' belongs to input 'x' and to input 'x1'"):
        parse_inputs(["x:float[2]=0..1", "x1:float=0..1"])
    with pytest.raises(InputError, match="'x10' belongs to input 'x' and to input 'x1'"):
        parse_inputs(["x:float[5000]=0..1", "x1:float[5000]=0..1"])
    with pytest.raises(InputError, match="'x4097'"):
        parse_inputs(["x:float[5000]=0..1", "y:float[2]=[x4097:0..1, 0..1]"])
    parse_inputs(["x:float[5]=0..1", "x1:float[5000]=0..1"])  # x10... are not x's: x has 5


@pytest.mark.parametrize("name", ["a" * 300, "."])
def test_a_calibration_path_that_cannot_be_a_file_is_an_input_error(name: str) -> None:
    with pytest.raises(InputError, match="calibration file") as caught:
        parse_spec(f"x=@{name}")
    assert "is a folder" in str(caught.value) or "cannot be opened" in str(caught.value)


# --- physical units ---------------------------------------------------------------------------

M, KG, S = (1, 0, 0, 0, 0, 0, 0), (0, 1, 0, 0, 0, 0, 0), (0, 0, 1, 0, 0, 0, 0)


def _exponents(*parts: tuple[tuple[int, ...], int]) -> tuple[int, ...]:
    return tuple(sum(base[k] * power for base, power in parts) for k in range(7))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kg", KG),
        ("m/s^2", _exponents((M, 1), (S, -2))),
        ("kg*m/s**2", _exponents((KG, 1), (M, 1), (S, -2))),
        ("N", _exponents((KG, 1), (M, 1), (S, -2))),
        ("kg m^2 s^-2", _exponents((KG, 1), (M, 2), (S, -2))),
        ("J", _exponents((KG, 1), (M, 2), (S, -2))),
        ("kg/(m*s^2)", _exponents((KG, 1), (M, -1), (S, -2))),
        ("Pa", _exponents((KG, 1), (M, -1), (S, -2))),
        ("1", (0,) * 7),
        ("1/s", _exponents((S, -1))),
    ],
)
def test_units_are_parsed_to_base_dimension_exponents(text: str, expected: tuple) -> None:
    assert parse_unit(text).exponents == expected


def test_units_after_a_domain_for_the_whole_input_or_per_element() -> None:
    whole = parse_spec("x:float[3]=1..3 m")
    assert [whole.element_unit(i).exponents for i in range(3)] == [M, M, M]
    listed = parse_spec("x:float[3]=[m:1..5 kg, v:0..3 m/s, 2 1]")
    assert [listed.element_unit(i).text for i in range(3)] == ["kg", "m/s", "1"]
    assert listed.element_domain(1) == Range(0, 3) and listed.element(2).constant == 2
    assert listed.to_json()["elements"][1] == {"name": "v", "range": [0.0, 3.0], "unit": "m/s"}
    assert parse_spec("m:float=1..5 kg").element_unit(0).exponents == KG
    assert parse_spec("x:float[2]=[0..1, 1..2]").element_unit(1) is None  # units are optional


@pytest.mark.parametrize(
    "text", ["m:float=1..5 kg", "x:float[3]=[m:1..5 kg, v:0..3 m/s, 2 1]", "x:float[2]={0, 1} s"]
)
def test_a_spec_with_units_round_trips_through_its_text(text: str) -> None:
    spec = parse_spec(text)
    again = parse_spec(spec.text)
    assert again == spec and again.to_json() == spec.to_json()


@pytest.mark.parametrize(
    ("text", "column", "named"),
    [
        ("m:float=1..5 kgg", 14, "'kgg' is not a unit sympy.physics.units knows (did you mean kg"),
        ("x:float[2]=[a:1..3 m^, b:1..2]", 20, "a whole-number exponent must follow"),
        ("x:float=1..3 m/(s", 14, "a ')' is missing"),
        ("x:float=1..3 2", 14, "expected a unit name, found '2'"),
    ],
)
def test_a_bad_unit_names_itself_and_what_is_accepted(text: str, column: int, named: str) -> None:
    with pytest.raises(InputError) as error:
        parse_spec(text)
    message = str(error.value)
    assert f"column {column}" in message and named in message
    assert "a unit such as kg, m/s^2" in message


def test_a_bad_output_unit_is_an_input_error_naming_the_option() -> None:
    assert make_options(output_units="N").output_units == ("N",)
    with pytest.raises(InputError, match="option output_units: unit 'newtonz'"):
        make_options(output_units="newtonz")
