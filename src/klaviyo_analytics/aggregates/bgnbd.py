"""The BG/NBD model of Fader, Hardie and Lee (2005): likelihood, maximum-likelihood fit, P(alive).

"Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing
Science 24(2), 275-284. A customer is summarised by ``x`` (repeat purchases), ``t_x`` (time of
the last purchase, measured from the first) and ``T`` (time from the first purchase to the end
of observation), all in one time unit. This module is pure numpy/scipy and never touches the
warehouse; :mod:`klaviyo_analytics.aggregates.runner` pulls the summary with one query and
pushes the fitted parameters back into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

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


def _dot(u: FloatArray, v: FloatArray) -> float:
    """``sum(u * v)`` without BLAS (whose threads only contend on a busy two-core host)."""
    return float(np.multiply(u, v).sum())


class _Objective:
    """The mean negative log-likelihood of a weighted summary and its analytic gradient.

    Works on log-parameters ``theta = log((r, alpha, a, b))``. The terms that depend on ``x``
    only (A1, A2 of FHL 2005 eq. 6 and their digamma derivatives) are evaluated once per
    distinct ``x`` and summed with the customers per ``x``; logarithms of ``alpha + T`` and
    ``alpha + t_x`` once per distinct day count and gathered. Only the ``logaddexp`` of A3 and
    A4 (and its two softmax weights, for the gradient) runs per summary row.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray) -> None:
        self.total = float(w.sum())
        self.w = w
        self.x = x
        self.xu, x_inv = np.unique(x, return_inverse=True)
        self.w_per_x = np.asarray(
            np.bincount(x_inv, weights=w, minlength=len(self.xu)), dtype=np.float64
        )
        self.x_inv = x_inv
        self.repeat_u = self.xu > 0
        self.repeat = x > 0
        self.tu, self.t_inv = np.unique(big_t, return_inverse=True)
        self.txu, self.tx_inv = np.unique(t_x, return_inverse=True)

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in np.exp(theta))
        xu, wx = self.xu, self.w_per_x
        # Per distinct x: A1 + A2 and their derivatives, weighted by the customers per x.
        a12 = (
            gammaln(r + xu)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + xu)
            - gammaln(b)
            - gammaln(a + b + xu)
        )
        d_r = _dot(wx, digamma(r + xu) - digamma(r) + np.log(alpha))
        d_alpha = float(wx.sum()) * r / alpha
        d_a = _dot(wx, digamma(a + b) - digamma(a + b + xu))
        d_b = _dot(wx, digamma(a + b) + digamma(b + xu) - digamma(b) - digamma(a + b + xu))
        total_ll = _dot(wx, a12)
        # Per row: log(exp(A3) + exp(A4)), A4 only for repeat buyers (-inf elsewhere).
        x, w = self.x, self.w
        log_at = np.log(alpha + self.tu)[self.t_inv]
        log_atx = np.log(alpha + self.txu)[self.tx_inv]
        log_bx = np.zeros_like(xu)
        log_bx[self.repeat_u] = np.log(b + xu[self.repeat_u] - 1.0)
        a3 = -(r + x) * log_at
        a4 = np.where(self.repeat, np.log(a) - log_bx[self.x_inv] - (r + x) * log_atx, -np.inf)
        lse = np.maximum(a3, a4) + np.log1p(np.exp(-np.abs(a3 - a4)))
        p4 = np.exp(a4 - lse)
        wp4 = w * p4
        wp3 = w - wp4
        total_ll += _dot(w, lse)
        d_r -= _dot(wp3, log_at) + _dot(wp4, log_atx)
        d_alpha -= _dot(wp3 * (r + x), (1.0 / (alpha + self.tu))[self.t_inv]) + _dot(
            wp4 * (r + x), (1.0 / (alpha + self.txu))[self.tx_inv]
        )
        d_a += float(wp4.sum()) / a
        inv_bx = np.zeros_like(xu)
        inv_bx[self.repeat_u] = 1.0 / (b + xu[self.repeat_u] - 1.0)
        d_b -= _dot(wp4, inv_bx[self.x_inv])
        # Chain rule to log-parameters; minimise the negative mean.
        grad = -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b]) / self.total
        return -total_ll / self.total, grad


#: Search box of the log-parameters; a fit ending within ``_AT_BOUND`` of it is degenerate.
_LOG_BOUND = 12.0
_AT_BOUND = 0.5
#: L-BFGS-B iteration cap (a regular fit needs a few dozen).
_MAX_ITER = 300
#: Relative-reduction stop of L-BFGS-B (scipy's ``ftol``), tighter than its default so a
#: likelihood that keeps rising along a ridge towards the box is followed to the box.
_FTOL = 1e-11
#: Largest projected-gradient entry (of the mean log-likelihood per customer) still accepted as
#: converged when L-BFGS-B stops on a line-search failure at the optimum's precision limit.
_GRAD_TOL = 1e-6


def fit(
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    weights: FloatArray | None = None,
) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood (L-BFGS-B on log-parameters, analytic gradient).

    Args:
        x: repeat purchases per customer (or per distinct summary row).
        t_x: recency per row.
        big_t: observation length per row.
        weights: how many customers share each row (``None``: one each).

    Returns:
        The fitted parameters; ``fitted`` is False if the optimiser failed (no convergence
        within the iteration cap, or a non-finite likelihood), in which case the values are the
        optimiser's last point.
    """
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    objective = _Objective(x, t_x, big_t, w)
    # Start alpha at the mean observation length: the fit is unit-free up to alpha's scale.
    start = np.log(np.array([1.0, max(float(np.average(big_t, weights=w)), 1.0), 1.0, 1.0]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options={"maxiter": _MAX_ITER, "ftol": _FTOL},
        )
        value, grad = objective(result.x)
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    at_bound = np.abs(result.x) >= _LOG_BOUND
    projected = np.where(at_bound & (np.sign(grad) == -np.sign(result.x)), 0.0, grad)
    converged = bool(result.success) or bool(np.max(np.abs(projected)) <= _GRAD_TOL)
    ok = converged and bool(np.isfinite(value)) and bool(np.all(np.isfinite(grad)))
    return BgNbdParams(r, alpha, a, b, fitted=ok, log_likelihood=float(-value * objective.total))


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
    limit = np.exp(_LOG_BOUND - _AT_BOUND)
    if np.any(values < 1.0 / limit) or np.any(values > limit):
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
