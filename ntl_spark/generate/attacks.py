"""Attack models that turn honest consumption into what a tampered meter records.

In: consumption arrays whose last axis is time (the 96 quarter-hours of a day,
or the months of a bill series) and the attack parameters. Out: arrays of the
same shape with the attack applied. The h1..h6 models follow Jokar et al.
(2016); FDI1..FDI6 are the false-data-injection models used on smart-meter
curves. ``partial``, ``night`` and ``stopped`` are further day-level models
(a bypass of the load above a threshold, theft at night only, a meter that
stopped); ``intermittent``, ``gradual`` and ``hookup`` act on the monthly
energy (``month_factors``): theft in some months only, a share that grows
over a year, and a direct hook-up that leaves the meter recording a flat old
level. All functions are vectorised over the leading axes; parameters must
broadcast against ``x`` (use ``[..., None]`` for one value per row).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ATTACKS = ("h1", "h2", "h3", "h4", "h5", "h6", "fdi1", "fdi2", "fdi3", "fdi4", "fdi5", "fdi6",
           "partial", "night", "stopped")
# Attacks defined on the monthly energy: the 15-minute curve keeps its shape and
# every day is scaled by its month's factor.
MONTH_ATTACKS = ("intermittent", "gradual", "hookup")
ALL_ATTACKS = ATTACKS + MONTH_ATTACKS
# Quarter-hours counted as night by the night-only attack (22:00-06:00).
NIGHT = np.r_[0:24, 88:96]


# ------------------------------------------------------------ elementary models
def h1(x: np.ndarray, a: np.ndarray | float) -> np.ndarray:
    """h1: a constant fraction of the real consumption, ``a * x`` (a ~ U(0.1, 0.8))."""
    return a * x


def h2(x: np.ndarray, t1: np.ndarray | int, t2: np.ndarray | int) -> np.ndarray:
    """h2: nothing recorded between positions ``t1`` (inclusive) and ``t2`` (exclusive)."""
    t = np.arange(x.shape[-1])
    off = (t >= np.asarray(t1)) & (t < np.asarray(t2))
    return np.where(off, 0.0, x)


def h3(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """h3: a different fraction at every step, ``g_t * x_t`` (g_t ~ U(0.1, 0.8))."""
    return g * x


def h4(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """h4: a random fraction of the mean, ``g_t * mean(x)``."""
    return g * x.mean(axis=-1, keepdims=True)


def h5(x: np.ndarray) -> np.ndarray:
    """h5: the mean at every step, ``mean(x)`` (flattens the profile, same total)."""
    return np.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape).copy()


def h6(x: np.ndarray) -> np.ndarray:
    """h6: the profile in reverse order, ``x_{T-1-t}`` (moves peak use to cheap hours)."""
    return x[..., ::-1].copy()


def fdi1(x: np.ndarray, a: np.ndarray | float) -> np.ndarray:
    """FDI1: ``a * x`` with a ~ U(0.2, 0.8) per meter."""
    return a * x


def fdi2(x: np.ndarray, g: np.ndarray | float) -> np.ndarray:
    """FDI2: readings capped at ``g``, ``min(x, g)`` (g ~ U(0, daily max))."""
    return np.minimum(x, g)


def fdi3(x: np.ndarray, g: np.ndarray | float) -> np.ndarray:
    """FDI3: a constant subtracted, ``max(x - g, 0)``."""
    return np.maximum(x - g, 0.0)


def fdi4(x: np.ndarray, start: np.ndarray | int, length: np.ndarray | int) -> np.ndarray:
    """FDI4: zeros for ``length`` steps from ``start`` (a 4-24 h stretch of a day)."""
    start = np.asarray(start)
    return h2(x, start, start + np.asarray(length))


def fdi5(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """FDI5: a different fraction per reading, ``a_t * x_t``."""
    return a * x


def fdi6(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """FDI6: ``a_t * mean(x)`` with the mean taken from the readings before the change."""
    return a * x.mean(axis=-1, keepdims=True)


def partial(x: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """Bypass of the load above a threshold: ``min(x, threshold)``.

    The heavy appliances are wired around the meter; the base load still passes it.
    """
    return np.minimum(x, threshold)


def night(x: np.ndarray, a: np.ndarray | float) -> np.ndarray:
    """Theft at night only: a share ``a`` of the 22:00-06:00 quarter-hours goes unrecorded."""
    out = x.copy()
    out[..., NIGHT] *= 1.0 - np.asarray(a)
    return out


def stopped(x: np.ndarray) -> np.ndarray:
    """A stopped (blocked) meter records nothing."""
    return np.zeros_like(x)


# ------------------------------------------------------------------ parameters
def draw_params(kind: str, k: int, rng: np.random.Generator, steps: int = 96) -> dict[str, np.ndarray]:
    """Per-meter (or per-customer) parameters of attack ``kind`` for ``k`` meters.

    Args:
        kind: one of ``ATTACKS``.
        k: how many meters.
        rng: random generator.
        steps: length of the time axis the attack runs on (96 quarter-hours).

    Returns:
        Named arrays of length ``k`` (``a``, ``t1``, ``t2``; empty when the
        model draws everything per step).

    Raises:
        ValueError: unknown attack.
    """
    if kind not in ALL_ATTACKS:
        raise ValueError(f"unknown attack {kind!r}; known: {list(ALL_ATTACKS)}")
    if kind == "h1":
        return {"a": rng.uniform(0.1, 0.8, k)}
    if kind == "fdi1":
        return {"a": rng.uniform(0.2, 0.8, k)}
    if kind == "h2":
        length = rng.integers(steps // 6, steps // 2 + 1, k)
        t1 = rng.integers(0, steps - length + 1)
        return {"t1": t1, "t2": t1 + length}
    if kind == "partial":  # threshold as a multiple of the day's mean quarter-hour
        return {"a": rng.uniform(0.6, 1.4, k)}
    if kind == "night":
        return {"a": rng.uniform(0.7, 1.0, k)}
    if kind == "intermittent":  # recorded share in the months the theft runs
        return {"a": rng.uniform(0.15, 0.6, k)}
    if kind == "gradual":  # final recorded share, reached after t1 months
        return {"a": rng.uniform(0.2, 0.6, k), "t1": rng.integers(6, 19, k)}
    return {}


def apply_days(kind: str, x: np.ndarray, params: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Apply attack ``kind`` to daily curves ``x`` of shape (meters, days, intervals).

    Per-day and per-reading random values (FDI2-FDI6, h3, h4) are drawn here.

    Args:
        kind: one of ``ATTACKS``.
        x: honest consumption, shape (k, d, t).
        params: from ``draw_params`` for the same k meters.
        rng: random generator.

    Returns:
        The recorded consumption, same shape as ``x``.
    """
    k, d, t = x.shape
    if kind in ("h1", "fdi1"):
        return h1(x, params["a"][:, None, None])
    if kind == "h2":
        return h2(x, params["t1"][:, None, None], params["t2"][:, None, None])
    if kind == "h3":
        return h3(x, rng.uniform(0.1, 0.8, x.shape))
    if kind == "h4":
        return h4(x, rng.uniform(0.1, 0.8, x.shape))
    if kind == "h5":
        return h5(x)
    if kind == "h6":
        return h6(x)
    if kind in ("fdi2", "fdi3"):
        g = rng.uniform(0.0, 1.0, (k, d, 1)) * x.max(axis=-1, keepdims=True)
        return fdi2(x, g) if kind == "fdi2" else fdi3(x, g)
    if kind == "fdi4":
        length = rng.integers(t // 6, t + 1, (k, d, 1))
        start = rng.integers(0, t - length + 1)
        return fdi4(x, start, length)
    if kind == "fdi5":
        return fdi5(x, rng.uniform(0.2, 0.8, x.shape))
    if kind == "fdi6":
        return fdi6(x, rng.uniform(0.2, 0.8, x.shape))
    if kind == "partial":
        return partial(x, params["a"][:, None, None] * x.mean(axis=-1, keepdims=True))
    if kind == "night":
        return night(x, params["a"][:, None, None])
    if kind == "stopped":
        return stopped(x)
    raise ValueError(f"unknown attack {kind!r}; known: {list(ATTACKS)}")


def day_ratio(
    kind: str, shapes: np.ndarray, params: Mapping[str, np.ndarray], rng: np.random.Generator, days: int = 8
) -> np.ndarray:
    """Share of the honest energy that a meter under attack records, per meter.

    Runs the attack on ``days`` noisy copies of each meter's typical day so that
    monthly bills and 15-minute readings of the same meter agree on average.

    Args:
        kind: one of ``ATTACKS``.
        shapes: typical daily curve of each meter, shape (k, intervals).
        params: from ``draw_params``.
        rng: random generator.
        days: simulated days per meter.

    Returns:
        Ratios in [0, 1.x], shape (k,).
    """
    x = shapes[:, None, :] * rng.lognormal(-0.045, 0.3, (shapes.shape[0], days, shapes.shape[1]))
    total = x.sum(axis=(1, 2))
    recorded = apply_days(kind, x, params, rng).sum(axis=(1, 2))
    return np.divide(recorded, total, out=np.ones_like(total), where=total > 0)


def apply_months(
    kind: str,
    x: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    params: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Apply an h-model to monthly series ``x`` (customers, months) inside [start, end).

    Months outside each row's window are returned unchanged. h2 turns the
    whole window to zero (a direct connection that bypasses the meter); h4 and
    h5 use the mean of the honest values inside the window; h6 reverses the
    order of the months inside the window.

    Args:
        kind: ``h1`` .. ``h6``.
        x: honest monthly kWh, shape (n, m).
        start: first month position of the window per row, shape (n,).
        end: month position after the window per row, shape (n,).
        params: from ``draw_params`` (``a`` for h1).
        rng: random generator.

    Returns:
        Recorded monthly kWh, shape (n, m).

    Raises:
        ValueError: ``kind`` is not a monthly model.
    """
    n, m = x.shape
    pos = np.arange(m)[None, :]
    s, e = start[:, None], end[:, None]
    inside = (pos >= s) & (pos < e)
    if kind == "h1":
        out = h1(x, params["a"][:, None])
    elif kind == "h2":
        out = h2(x, s, e)
    elif kind == "h3":
        out = h3(x, rng.uniform(0.1, 0.8, x.shape))
    elif kind in ("h4", "h5"):
        count = np.maximum(inside.sum(axis=1, keepdims=True), 1)
        mean = np.where(inside, x, 0.0).sum(axis=1, keepdims=True) / count
        out = rng.uniform(0.1, 0.8, x.shape) * mean if kind == "h4" else np.broadcast_to(mean, x.shape)
    elif kind == "h6":
        src = np.where(inside, s + e - 1 - pos, pos)
        out = np.take_along_axis(x, np.clip(src, 0, m - 1), axis=1)
    else:
        raise ValueError(f"apply_months: {kind!r} is not a monthly model (h1..h6)")
    return np.where(inside, out, x)


def month_factors(
    kind: str,
    honest: np.ndarray,
    start: np.ndarray,
    params: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Recorded over honest energy per month for a month-level attack running from ``start`` on.

    ``intermittent`` steals in blocks of 1-3 months, each block on with
    probability 0.5 (the first always on); ``gradual`` lowers the recorded share
    linearly from 1 to ``a`` over ``t1`` months; ``hookup`` records the mean of
    the 12 months before the start, flat, whatever the season (a direct
    connection carries the rest).

    Args:
        kind: one of ``MONTH_ATTACKS``.
        honest: honest monthly kWh of the attackers, shape (n, m).
        start: month position of the attack's first month per row, shape (n,).
        params: from ``draw_params``.
        rng: random generator.

    Returns:
        Factors, shape (n, m); 1 before ``start`` (the caller mixes in the
        attack's share of days per month).

    Raises:
        ValueError: ``kind`` is not a month-level attack.
    """
    n, m = honest.shape
    pos = np.arange(m)[None, :]
    since = pos - start[:, None]
    if kind == "intermittent":
        block = rng.integers(1, 4, (n, 1))
        on = rng.random((n, m)) < 0.5
        on[:, 0] = True
        state = np.take_along_axis(on, np.clip(since // block, 0, m - 1), axis=1)
        out = np.where(state, params["a"][:, None], 1.0)
    elif kind == "gradual":
        progress = np.clip((since + 1) / params["t1"][:, None], 0.0, 1.0)
        out = 1.0 - progress * (1.0 - params["a"][:, None])
    elif kind == "hookup":
        before = (since < 0) & (since >= -12)
        count = before.sum(axis=1, keepdims=True)
        old = np.where(before, honest, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
        old = np.where(count > 0, old, honest[:, :1])
        flat = old * rng.uniform(0.9, 1.0, (n, 1)) * rng.lognormal(0.0, 0.03, (n, m))
        out = np.divide(flat, honest, out=np.ones_like(honest), where=honest > 0)
        # honest use below the old level: the hook-up takes nothing that month
        out = np.minimum(out, 1.0)
    else:
        raise ValueError(f"month_factors: {kind!r} is not a month-level attack {list(MONTH_ATTACKS)}")
    return np.where(since >= 0, out, 1.0)


def normalised_mix(weights: Mapping[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    """Attack names and probabilities from the configured relative weights.

    Raises:
        ValueError: an unknown attack name or no positive weight.
    """
    names = tuple(k for k in ALL_ATTACKS if weights.get(k, 0.0) > 0)
    for key in weights:
        if key not in ALL_ATTACKS:
            raise ValueError(f"generate.fraud.attacks.{key}: unknown attack; known: {list(ALL_ATTACKS)}")
    if not names:
        raise ValueError("generate.fraud.attacks: all weights are zero")
    p = np.array([weights[k] for k in names], dtype=float)
    return names, p / p.sum()
