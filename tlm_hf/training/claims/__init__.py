"""The paper's claims as typed code: its numbers (`paper`), the rule and the claim functions (`analysis`), the
latency measurement (`latency`), figures (`plot`), the report (`report`) and the command that plans, runs and
judges them all (`reproduce`)."""

from .analysis import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    VERDICT_RULE,
    ClaimResult,
    CommitteeUnit,
    Estimate,
    FineTuneResult,
    Latency,
    Unit,
    Verdict,
    claim1,
    claim2,
    claim3,
    claim4,
    judge,
    mean_interval,
    slope_interval,
)
from .paper import MARGINS

__all__ = ["DOES_NOT_HOLD", "HOLDS", "INCONCLUSIVE", "MARGINS", "VERDICT_RULE", "ClaimResult", "CommitteeUnit",
           "Estimate", "FineTuneResult", "Latency", "Unit", "Verdict", "claim1", "claim2", "claim3", "claim4", "judge",
           "mean_interval", "slope_interval"]
