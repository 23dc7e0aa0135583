"""BG/NBD: the published CDNOW fit, P(alive) properties and the small-store fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from klaviyo_analytics.aggregates import bgnbd


def _cdnow_summary(shared_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per the dataset README: weeks, calibration = first 39 weeks of 1997, purchase days."""
    frame = pd.read_csv(
        shared_dir / "datasets" / "cdnow" / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["full_id", "id", "date", "cds", "dollars"],
    )
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp("1997-09-30")
    calibration = frame[frame["date"] <= end]
    days = calibration.groupby("id")["date"].agg(["min", "max", "nunique"])
    x = (days["nunique"] - 1).to_numpy(float)
    t_x = ((days["max"] - days["min"]).dt.days / 7).to_numpy(float)
    big_t = ((end - days["min"]).dt.days / 7).to_numpy(float)
    return x, t_x, big_t


def test_cdnow_fit_lands_on_published_parameters(shared_dir: Path) -> None:
    x, t_x, big_t = _cdnow_summary(shared_dir)
    assert len(x) == 2357
    params = bgnbd.fit(x, t_x, big_t)
    assert params.fitted
    for got, want in (
        (params.r, 0.243),
        (params.alpha, 4.414),
        (params.a, 0.793),
        (params.b, 2.426),
    ):
        assert got == pytest.approx(want, rel=5e-3)
    assert params.log_likelihood == pytest.approx(-9582.4, abs=0.5)  # FHL 2005, table 1


def test_grouped_fit_equals_per_customer_fit(shared_dir: Path) -> None:
    x, t_x, big_t = _cdnow_summary(shared_dir)
    frame = pd.DataFrame({"x": x, "t_x": t_x, "big_t": big_t})
    grouped = frame.groupby(["x", "t_x", "big_t"]).size().reset_index(name="n")
    params = bgnbd.fit(
        grouped["x"].to_numpy(float),
        grouped["t_x"].to_numpy(float),
        grouped["big_t"].to_numpy(float),
        grouped["n"].to_numpy(float),
    )
    assert params.r == pytest.approx(0.243, rel=5e-3)
    assert params.b == pytest.approx(2.426, rel=5e-3)


def test_p_alive_properties() -> None:
    params = bgnbd.BgNbdParams(0.243, 4.414, 0.793, 2.426, fitted=True)
    x = np.array([0.0, 2.0, 2.0, 2.0, 50.0])
    t_x = np.array([0.0, 30.0, 10.0, 30.0, 1.0])
    big_t = np.array([38.0, 38.0, 38.0, 30.0, 1000.0])
    p = bgnbd.p_alive(params, x, t_x, big_t)
    assert p[0] == 1.0  # no repeat purchase: BG/NBD cannot have seen a dropout
    assert p[1] > p[2]  # a more recent last purchase is more likely alive
    assert p[3] == pytest.approx(1 / (1 + 0.793 / (2.426 + 1)))  # bought at the very end
    assert 0.0 <= p[4] < 1e-6  # long silence after frequent buying, no overflow
    expected = 1 / (1 + 0.793 / (2.426 + 1) * ((4.414 + 38) / (4.414 + 30)) ** (0.243 + 2))
    assert p[1] == pytest.approx(expected)


def test_small_store_falls_back_to_documented_prior() -> None:
    x = np.array([0.0, 1.0, 3.0])
    t_x = np.array([0.0, 5.0, 40.0])
    big_t = np.array([10.0, 20.0, 50.0])
    params = bgnbd.fit_or_fallback(x, t_x, big_t)
    assert not params.fitted
    assert (params.r, params.alpha, params.a, params.b) == bgnbd.CDNOW_PRIOR_DAYS


def test_store_without_repeat_buyers_falls_back() -> None:
    x = np.zeros(500)
    t_x = np.zeros(500)
    big_t = np.linspace(1, 200, 500)
    assert not bgnbd.fit_or_fallback(x, t_x, big_t).fitted
