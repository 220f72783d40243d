"""Attack models on tiny explicit arrays."""

from __future__ import annotations

import numpy as np
import pytest

from ntl_spark.generate import attacks

X = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 2.0, 2.0]])


def test_h1_scales() -> None:
    np.testing.assert_allclose(attacks.h1(X, np.array([[0.5], [0.1]])), [[0.5, 1, 1.5, 2], [0.4, 0, 0.2, 0.2]])


def test_h2_zeros_between_t1_and_t2() -> None:
    out = attacks.h2(X, np.array([[1], [0]]), np.array([[3], [1]]))
    np.testing.assert_allclose(out, [[1, 0, 0, 4], [0, 0, 2, 2]])


def test_h3_h5_per_step_and_flat() -> None:
    g = np.full(X.shape, 0.5)
    np.testing.assert_allclose(attacks.h3(X, g), X * 0.5)
    np.testing.assert_allclose(attacks.h4(X, g), [[1.25] * 4, [1.0] * 4])
    np.testing.assert_allclose(attacks.h5(X), [[2.5] * 4, [2.0] * 4])


def test_h6_reverses() -> None:
    np.testing.assert_allclose(attacks.h6(X), [[4, 3, 2, 1], [2, 2, 0, 4]])


def test_fdi2_fdi3_cap_and_subtract() -> None:
    np.testing.assert_allclose(attacks.fdi2(X, 2.5), [[1, 2, 2.5, 2.5], [2.5, 0, 2, 2]])
    np.testing.assert_allclose(attacks.fdi3(X, 2.5), [[0, 0, 0.5, 1.5], [1.5, 0, 0, 0]])


def test_fdi4_zeros_one_stretch_of_4_to_24_hours() -> None:
    rng = np.random.default_rng(0)
    x = np.ones((3, 50, 96))
    out = attacks.apply_days("fdi4", x, {}, rng)
    zeros = (out == 0).sum(axis=-1)
    assert zeros.min() >= 16 and zeros.max() <= 96
    # the zeros of each day are one contiguous stretch
    edges = np.abs(np.diff((out == 0).astype(int), axis=-1)).sum(axis=-1)
    assert edges.max() <= 2
    np.testing.assert_allclose(attacks.fdi4(np.ones(8), 2, 3), [1, 1, 0, 0, 0, 1, 1, 1])


def test_fdi6_uses_the_mean_before_the_change() -> None:
    a = np.array([[1.0, 0.5, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(attacks.fdi6(X, a), [[2.5, 1.25, 2.5, 1.25], [2, 2, 2, 2]])
    np.testing.assert_allclose(attacks.fdi5(X, a), X * a)


def test_apply_days_runs_every_model_and_lowers_drops() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.1, 1.0, (4, 7, 96))
    for kind in attacks.ATTACKS:
        params = attacks.draw_params(kind, 4, rng)
        out = attacks.apply_days(kind, x, params, rng)
        assert out.shape == x.shape and (out >= 0).all()
        if kind not in ("h5", "h6"):
            assert out.sum() < x.sum(), kind
        else:
            assert out.sum() == pytest.approx(x.sum())


def test_apply_months_only_inside_window() -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    start, end = np.array([1]), np.array([4])
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(attacks.apply_months("h6", x, start, end, {}, rng), [[1, 4, 3, 2, 5]])
    np.testing.assert_allclose(attacks.apply_months("h2", x, start, end, {}, rng), [[1, 0, 0, 0, 5]])
    np.testing.assert_allclose(attacks.apply_months("h5", x, start, end, {}, rng), [[1, 3, 3, 3, 5]])
    np.testing.assert_allclose(attacks.apply_months("h1", x, start, end, {"a": np.array([0.5])}, rng),
                               [[1, 1, 1.5, 2, 5]])
    with pytest.raises(ValueError, match="fdi1"):
        attacks.apply_months("fdi1", x, start, end, {}, rng)


def test_mix_is_normalised_and_names_unknown_attacks() -> None:
    names, p = attacks.normalised_mix({"h1": 2.0, "fdi4": 2.0, "h2": 0.0})
    assert names == ("h1", "fdi4") and p.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="h9"):
        attacks.normalised_mix({"h9": 1.0})
