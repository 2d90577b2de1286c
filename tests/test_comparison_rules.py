"""The comparison rules of tests/helpers.py (docs/r_users.md "Agreement with R"), checked on their own: each
must pass what is determined to agree and fail what is not."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers import (assert_close, assert_same_printout, at_theta, check_criterion, is_noise, load_fixture,
                      FIXTURES, model_at_r_theta, theta_parted)

R_NOISE = "$Subject\n    (Intercept)\n8 -1.708716e+00\n6  1.641913e-15\n1  1.708716e+00\n"
OURS_ZERO = "$Subject\n  (Intercept)\n8  -1.7087162\n6   0.0000000\n1   1.7087162\n"


def test_noise_is_relative_to_the_scale():
    assert is_noise(1.6e-15, 1.7) and is_noise(0.0, 1.7)
    assert not is_noise(1e-9, 1.7)
    assert not is_noise(1.6e-15, 1e-6)


def test_assert_close_takes_noise_as_zero():
    assert_close([1.0, 0.0], [1.0, 1.6e-15], "noise", rtol=1e-8)
    with pytest.raises(AssertionError, match="noise"):
        assert_close([1.0, 0.0], [1.0, 1e-9], "noise", rtol=1e-8)


def test_printout_noise_pair_changes_the_column_format():
    """R prints the noise in scientific notation and formats the column with it: equal at R's precision."""
    assert_same_printout(OURS_ZERO, R_NOISE, "ranef")


def test_printout_differs_beyond_the_printed_precision():
    with pytest.raises(AssertionError, match="differs"):
        assert_same_printout(OURS_ZERO.replace("1.7087162", "1.7087182"), R_NOISE, "ranef")


def test_printout_a_number_is_not_noise():
    with pytest.raises(AssertionError, match="differs"):
        assert_same_printout(OURS_ZERO, R_NOISE.replace("1.641913e-15", "1.641913e-03"), "ranef")


def test_printout_layout_without_noise_is_compared():
    r = "  (Intercept)\n8  -1.7087162\n1   1.7087162\n"
    with pytest.raises(AssertionError, match="layout"):
        assert_same_printout(r.replace("8  -1.7087162", "8 -1.7087162"), r, "ranef")
    with pytest.raises(AssertionError, match="differs"):
        assert_same_printout("x 1.708716e+00\n", "x 1.7087162\n", "format")


def test_printout_one_rounding_tie():
    r = "Fixed effects:\n  1527.5   17.69\n  1.25   2.50\n"
    ours = "Fixed effects:\n  1527.4   17.69\n  1.25   2.50\n"
    assert_same_printout(ours, r, "tie", ties=1)
    with pytest.raises(AssertionError):
        assert_same_printout(ours, r, "tie")
    with pytest.raises(AssertionError):
        assert_same_printout(ours.replace("1.25", "1.26"), r, "tie", ties=1)


def test_criterion_rule():
    check_criterion(100.0, 100.0)
    check_criterion(99.0, 100.0)                       # a better optimum passes
    check_criterion(100.0 + 5e-7, 100.0)               # 5e-9 relative above
    with pytest.raises(AssertionError, match="above R's"):
        check_criterion(100.0 + 2e-6, 100.0)           # 2e-8 relative above


def test_model_at_r_theta_only_when_theta_parted():
    import mixedcompat as mc
    fx = load_fixture(FIXTURES / "lmer" / "sleepstudy_reml.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(fx["input"]["formula"], mc.datasets.load("sleepstudy"))
    calls = []

    def evaluate_at(control):
        calls.append(control)
        return mc.lmer(fx["input"]["formula"], mc.datasets.load("sleepstudy"), control=control)

    assert model_at_r_theta(m, fx["expected"]["theta"], evaluate_at) is m and not calls
    moved = np.asarray(fx["expected"]["theta"]) + 1e-3
    assert theta_parted(m.theta, moved)
    at = model_at_r_theta(m, moved, evaluate_at)
    assert calls == [at_theta(moved)]
    np.testing.assert_array_equal(at.theta, moved)
