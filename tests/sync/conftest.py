"""Fixtures of the sync tests: a simulator over real HTTP and an app context on a fresh DB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from klaviyo_analytics.simulator import SimulatorConfig, SimulatorServer

# The simulator clock starts at today 00:00 UTC (its default), a few hours behind real time:
# Klaviyo's clock is not observable (no simulated Date header), so keep the two close.
SIM_NOW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
SEED = 42


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """A tiny two-account simulator with rate limits off."""
    with SimulatorServer(SimulatorConfig(seed=SEED, scale="tiny", accounts=2, now=SIM_NOW)) as s:
        yield s
