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


def test_partial_night_stopped_day_models() -> None:
    x = np.full((1, 1, 96), 1.0)
    x[..., 80] = 5.0
    out = attacks.apply_days("partial", x, {"a": np.array([1.0])}, np.random.default_rng(0))
    assert out.max() == pytest.approx(x.mean()) and out[..., 0] == pytest.approx(1.0)
    out = attacks.apply_days("night", x, {"a": np.array([1.0])}, np.random.default_rng(0))
    assert (out[..., attacks.NIGHT] == 0).all() and out[..., 40] == pytest.approx(1.0)
    assert (attacks.apply_days("stopped", x, {}, np.random.default_rng(0)) == 0).all()


def test_month_factors_intermittent_gradual_hookup() -> None:
    rng = np.random.default_rng(3)
    season = 1.0 + 0.3 * np.cos(np.arange(36) / 12 * 2 * np.pi)
    honest = np.tile(100.0 * season, (50, 1))
    start = np.full(50, 12)
    f = attacks.month_factors("intermittent", honest, start, {"a": np.full(50, 0.3)}, rng)
    assert (f[:, :12] == 1).all() and (f[:, 12] == pytest.approx(0.3))
    assert set(np.round(np.unique(f[:, 12:]), 6)) == {0.3, 1.0}  # on and off months
    f = attacks.month_factors("gradual", honest, start, {"a": np.full(50, 0.4), "t1": np.full(50, 10)}, rng)
    assert (np.diff(f[0, 12:22]) < 0).all() and f[0, 21:] == pytest.approx(0.4)
    f = attacks.month_factors("hookup", honest, start, {}, rng)
    recorded = honest * f
    old = honest[:, :12].mean()
    # flat at (just under) the old level: the season is gone, the months above it are cut
    assert recorded[:, 12:].max() <= old * 1.15 and recorded[:, 12:].std(axis=1).mean() < 0.1 * old
    assert (f[:, :12] == 1).all()
    with pytest.raises(ValueError, match="month-level"):
        attacks.month_factors("h1", honest, start, {}, rng)
