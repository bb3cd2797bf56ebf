"""The simulated collection network: drops per DROP.md in each center's raw format, and the truth.

`simulate_network` writes, for each center and one date, a drop that follows the center's
profile, with physically plausible motion, injected faults and a ground truth under
``<out>/_truth/`` (documented in docs/TRUTH.md) that only evaluation reads.
"""

from __future__ import annotations

from teleop_lake.config.centers import CENTER_NAMES
from teleop_lake.simulate.network import SimulationSummary, simulate_network
from teleop_lake.simulate.params import FaultRates, SimulationProfile, simulation_profile

__all__ = [
    "CENTER_NAMES",
    "FaultRates",
    "SimulationProfile",
    "SimulationSummary",
    "simulate_network",
    "simulation_profile",
]
