"""The BG/NBD model of Fader, Hardie and Lee (2005): likelihood, maximum-likelihood fit, P(alive).

"Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing
Science 24(2), 275-284. A customer is summarised by ``x`` (repeat purchases), ``t_x`` (time of
the last purchase, measured from the first) and ``T`` (time from the first purchase to the end
of observation), all in one time unit. This module is pure numpy/scipy and never touches the
warehouse; :mod:`klaviyo_analytics.aggregates.runner` pulls the summary with one query and
pushes the fitted parameters back into SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import gammaln

FloatArray = npt.NDArray[np.float64]

#: The published CDNOW fit (weeks), converted to days: alpha scales with the time unit.
CDNOW_PRIOR_DAYS = (0.243, 4.414 * 7.0, 0.793, 2.426)
#: A store needs at least this many customers, and this many repeat customers, to be fitted.
MIN_CUSTOMERS = 50
MIN_REPEAT_CUSTOMERS = 10


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted (or fallback) BG/NBD parameters.

    Attributes:
        r: shape of the gamma mixing distribution of purchase rates.
        alpha: scale of that gamma distribution (in the summary's time unit).
        a: first shape parameter of the beta mixing distribution of dropout probabilities.
        b: second shape parameter of that beta distribution.
        fitted: True if estimated from the store's data, False for the documented fallback.
        log_likelihood: total log-likelihood at the parameters (0.0 for the fallback).
    """

    r: float
    alpha: float
    a: float
    b: float
    fitted: bool
    log_likelihood: float = 0.0


def log_likelihood(
    params: tuple[float, float, float, float],
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
) -> FloatArray:
    """Per-customer log-likelihood of BG/NBD (FHL 2005, equation 6).

    Args:
        params: ``(r, alpha, a, b)``, all positive.
        x: repeat purchases per customer.
        t_x: time of the last purchase since the first.
        big_t: length of the observation since the first purchase.

    Returns:
        The log-likelihood of each customer.
    """
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # A4 only exists for customers with repeat purchases; elsewhere it contributes exp(-inf) = 0.
    a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xr - 1.0) - (r + xr) * np.log(alpha + t_x[repeat])
    result: FloatArray = a1 + a2 + np.logaddexp(a3, a4)
    return result


def _grouped_log_likelihood(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> Callable[[tuple[float, float, float, float]], FloatArray]:
    """:func:`log_likelihood` for fixed data, with the same per-row arithmetic.

    The special functions and logarithms are evaluated once per distinct ``x``, ``t_x`` and
    ``T`` (a store has a few dozen distinct ``x`` and at most a few thousand distinct days,
    but up to hundreds of thousands of rows) and gathered back, so every row's value is the
    very same floating-point number :func:`log_likelihood` computes, only cheaper.
    """
    xu, x_inv = np.unique(x, return_inverse=True)
    tu, t_inv = np.unique(big_t, return_inverse=True)
    repeat = x > 0
    xr = x[repeat]
    xru, xr_inv = np.unique(xr, return_inverse=True)
    txu, tx_inv = np.unique(t_x[repeat], return_inverse=True)

    def ll(params: tuple[float, float, float, float]) -> FloatArray:
        r, alpha, a, b = params
        a1 = (gammaln(r + xu) - gammaln(r) + r * np.log(alpha))[x_inv]
        a2 = (gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu))[x_inv]
        a3 = -(r + x) * np.log(alpha + tu)[t_inv]
        a4 = np.full_like(x, -np.inf)
        a4[repeat] = (
            np.log(a) - np.log(b + xru - 1.0)[xr_inv] - (r + xr) * np.log(alpha + txu)[tx_inv]
        )
        result: FloatArray = a1 + a2 + np.logaddexp(a3, a4)
        return result

    return ll


def fit(
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    weights: FloatArray | None = None,
) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood (L-BFGS-B on log-parameters).

    Args:
        x: repeat purchases per customer (or per distinct summary row).
        t_x: recency per row.
        big_t: observation length per row.
        weights: how many customers share each row (``None``: one each).

    Returns:
        The fitted parameters; ``fitted`` is False only if the optimiser failed, in which case
        the values are the optimiser's last point.
    """
    w = np.ones_like(x) if weights is None else weights
    total = float(w.sum())

    ll_of = _grouped_log_likelihood(x, t_x, big_t)

    def objective(log_params: FloatArray) -> float:
        p = np.exp(log_params)
        ll = ll_of((p[0], p[1], p[2], p[3]))
        return float(-(w * ll).sum() / total)

    # Start alpha at the mean observation length: the fit is unit-free up to alpha's scale.
    start = np.log(np.array([1.0, max(float(np.average(big_t, weights=w)), 1.0), 1.0, 1.0]))
    best = None
    for method in ("L-BFGS-B", "Nelder-Mead"):
        result = minimize(
            objective,
            start,
            method=method,
            bounds=[(-12.0, 12.0)] * 4 if method == "L-BFGS-B" else None,
            options={"maxiter": 2000},
        )
        if best is None or result.fun < best.fun:
            best = result
        if result.success:
            break
    assert best is not None
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    ok = bool(best.success) and bool(np.isfinite(best.fun))
    return BgNbdParams(r, alpha, a, b, fitted=ok, log_likelihood=float(-best.fun * total))


def fallback() -> BgNbdParams:
    """The documented fallback for stores too small to fit: the CDNOW parameters in days."""
    r, alpha, a, b = CDNOW_PRIOR_DAYS
    return BgNbdParams(r, alpha, a, b, fitted=False)


def fit_or_fallback(
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    weights: FloatArray | None = None,
) -> BgNbdParams:
    """Fit a store, or fall back if it is too small or the fit is not usable.

    The fallback applies when the store has fewer than :data:`MIN_CUSTOMERS` customers or fewer
    than :data:`MIN_REPEAT_CUSTOMERS` repeat customers, when the optimiser does not converge,
    or when a parameter ends at a bound of the search (a degenerate fit).

    Args:
        x: repeat purchases (in days' units: distinct purchase days minus one).
        t_x: days from the first to the last purchase day.
        big_t: days from the first purchase day to the as-of day.
        weights: customers per row.

    Returns:
        Parameters to score the store's customers with.
    """
    w = np.ones_like(x) if weights is None else weights
    customers = float(w.sum())
    repeaters = float(w[x > 0].sum())
    if customers < MIN_CUSTOMERS or repeaters < MIN_REPEAT_CUSTOMERS or float(big_t.max()) <= 0:
        return fallback()
    params = fit(x, t_x, big_t, w)
    values = np.array([params.r, params.alpha, params.a, params.b])
    if not params.fitted or not np.all(np.isfinite(values)):
        return fallback()
    if np.any(values < np.exp(-11.5)) or np.any(values > np.exp(11.5)):
        return fallback()
    return params


def p_alive(params: BgNbdParams, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
    """P(alive | x, t_x, T) (FHL 2005, equation 11); 1 for customers with no repeat purchase.

    Args:
        params: model parameters.
        x: repeat purchases.
        t_x: recency.
        big_t: observation length.

    Returns:
        Probability that each customer is still active.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    out = np.ones_like(x)
    xr = x[repeat]
    log_ratio = (r + xr) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    odds = np.exp(np.log(a) - np.log(b + xr - 1.0) + np.minimum(log_ratio, 700.0))
    out[repeat] = 1.0 / (1.0 + odds)
    return out
