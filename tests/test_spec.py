"""The input-spec grammar: every documented form, its domain, and errors that point at a column."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from nnc.errors import InputError
from nnc.spec import Domain, Range, Values, parse_inputs, parse_spec


def test_uniform_range_names_elements_by_index() -> None:
    spec = parse_spec("x:float[3]=1..3")
    assert (spec.dtype, spec.shape) == ("float32", (3,))
    assert [e.name for e in spec.elements] == ["x0", "x1", "x2"]
    assert all(e.domain == Range(1.0, 3.0) for e in spec.elements)
    assert spec.element_count() is None  # continuous


def test_per_element_ranges() -> None:
    spec = parse_spec("x:float[2]=[-1..1, 0..2]")
    assert [e.domain for e in spec.elements] == [Range(-1, 1), Range(0, 2)]


def test_named_integer_elements_and_constant() -> None:
    spec = parse_spec("tokens:int[3]=[a:0..112, b:0..112, 113]")
    assert [e.name for e in spec.elements] == ["a", "b", "tokens2"]
    assert spec.elements[2].constant == 113
    assert spec.element_count() == 113 * 113


def test_value_sets_and_mixed_lists() -> None:
    assert parse_spec("x:float[4]={0,1}").element_count() == 16
    mixed = parse_spec("x:float[3]=[x0:1..3, x1:1..3, x2:0.5..2]")
    assert mixed.elements[2].domain == Range(0.5, 2.0)
    bits = parse_spec("x:float[4]=[b0:{0,1}, b1:{0,1}, b2:{0,1}, b3:{0,1}]")
    assert [e.name for e in bits.elements] == ["b0", "b1", "b2", "b3"]
    assert bits.elements[0].domain == Values((0.0, 1.0))


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
        ("x:float[3]=1..3 z", 17, "the end"),
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
