"""A faithful local Klaviyo API simulator serving deterministic synthetic stores.

Public API::

    from klaviyo_analytics.simulator import (
        FaultSpec, SimulatorConfig, SimulatorServer, ground_truth,
    )

    with SimulatorServer(SimulatorConfig(seed=42, scale="tiny")) as sim:
        sim.base_url, sim.accounts, sim.clock.advance(...), sim.request_log

It serves Klaviyo revision 2026-07-15 (the bundled OpenAPI spec) on loopback only and never
reaches the network.
"""

from klaviyo_analytics.simulator.auth import AccountCredentials
from klaviyo_analytics.simulator.clock import SimClock
from klaviyo_analytics.simulator.config import REVISION, SCALES, FaultSpec, SimulatorConfig
from klaviyo_analytics.simulator.errors import SimulatorError
from klaviyo_analytics.simulator.server import SimulatorServer
from klaviyo_analytics.simulator.truth import (
    CampaignTruth,
    FlowTruth,
    FormTruth,
    GroundTruth,
    SegmentTruth,
    ground_truth,
)

__all__ = [
    "REVISION",
    "SCALES",
    "AccountCredentials",
    "CampaignTruth",
    "FaultSpec",
    "FlowTruth",
    "FormTruth",
    "GroundTruth",
    "SegmentTruth",
    "SimClock",
    "SimulatorConfig",
    "SimulatorError",
    "SimulatorServer",
    "ground_truth",
]
