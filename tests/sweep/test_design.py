"""Designs, the command line's ranges and per-point seeds."""

import doctest
import importlib
import subprocess
import sys

import numpy as np
import pytest

from snnlab.sweep.design import Design, grid, latin_hypercube, parse_vary, point_seed, random_design


def test_grid_is_every_combination_first_parameter_slowest():
    d = grid(a=[1, 2], b=[10, 20, 30])
    assert d.names == ("a", "b") and len(d) == 6
    assert d.values.tolist() == [[1, 10], [1, 20], [1, 30], [2, 10], [2, 20], [2, 30]]
    assert d.axes == {"a": (1.0, 2.0), "b": (10.0, 20.0, 30.0)}
    assert Design.from_dict(d.to_dict()).values.tolist() == d.values.tolist()


def test_latin_hypercube_puts_one_point_in_each_stratum():
    d = latin_hypercube(50, seed=3, x=(0, 100), y=(-1, 1))
    for j, (lo, hi) in enumerate([(0, 100), (-1, 1)]):
        strata = np.floor((d.values[:, j] - lo) / (hi - lo) * 50).astype(int)
        assert sorted(strata.tolist()) == list(range(50))
    # Same seed, same design; another seed, another one.
    assert np.array_equal(d.values, latin_hypercube(50, seed=3, x=(0, 100), y=(-1, 1)).values)
    assert not np.array_equal(d.values, latin_hypercube(50, seed=4, x=(0, 100), y=(-1, 1)).values)


def test_random_design_is_in_range_and_seeded():
    d = random_design(200, seed=1, x=(5, 6))
    assert d.values.min() >= 5 and d.values.max() < 6
    assert np.array_equal(d.values, random_design(200, seed=1, x=(5, 6)).values)


def test_parse_vary_is_linspace_inclusive():
    name, values = parse_vary("input_rate=0:200:21")
    assert name == "input_rate" and values == np.linspace(0, 200, 21).tolist()
    assert values[0] == 0 and values[-1] == 200
    assert parse_vary("x=3:3:1") == ("x", [3.0])
    assert parse_vary(" w = 1, 2 ,4") == ("w", [1.0, 2.0, 4.0])


@pytest.mark.parametrize(
    "text, match",
    [
        ("input_rate", "expected NAME=START:STOP:COUNT"),
        ("=0:1:2", "name is missing"),
        ("x=0:1:0", "COUNT=0 makes an empty range"),
        ("x=0:1:-3", "COUNT=-3 makes an empty range"),
        ("x=0:1", "cannot read '0:1'"),
        ("x=0:1:2.5", "cannot read"),
        ("x=a:b:3", "cannot read"),
        ("x=", "the range is empty"),
        ("x=0:nan:3", "non-finite"),
        ("x=0:1:1", "COUNT=1 between two different values"),
    ],
)
def test_parse_vary_refuses_bad_ranges(text, match):
    with pytest.raises(ValueError, match=match):
        parse_vary(text)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: grid(), "no parameter to vary"),
        (lambda: grid(x=[]), "range is empty"),
        (lambda: grid(x=[1, 1]), "repeated values"),
        (lambda: grid(x="abc"), "expected a sequence of numbers"),
        (lambda: latin_hypercube(10, x=(1, 1)), r"range \(1, 1\) is empty"),
        (lambda: random_design(0, x=(0, 1)), "n=0"),
        (lambda: random_design(3, x=(0, 1, 2)), "expected \\(low, high\\)"),
    ],
)
def test_bad_designs_are_refused(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_point_seed_is_the_same_in_another_process():
    here = point_seed(7, {"input_rate": 50.0, "weight_scale": 2.0}, 1)
    code = (
        "from snnlab.sweep.design import point_seed;"
        "print(point_seed(7, {'weight_scale': 2, 'input_rate': 50.0}, 1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == here  # key order and int/float spelling do not matter
    assert 0 <= here < 2**63
    assert here != point_seed(8, {"input_rate": 50.0, "weight_scale": 2.0}, 1)
    assert here != point_seed(7, {"input_rate": 50.5, "weight_scale": 2.0}, 1)


@pytest.mark.parametrize("name", ["snnlab.sweep.design", "snnlab.sweep.metrics", "snnlab.sweep.store", "snnlab.sweep.aggregate"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
