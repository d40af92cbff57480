"""Link-adaptation policies the simulator can run: OLLA, eOLLA, SALAD, ILLA, genie, fixed MCS, ONNX.

Every policy maps the gNB's view of a slot (:class:`xapp.features.ReportBatch`)
to one MCS per UE. The report-driven ones (OLLA, eOLLA, SALAD, ILLA, ONNX) keep
per-UE state built only from what the reports carry, so they behave the same
behind the E2 emulator as in-process. The genie is the exception by design: it
reads the true channel from the simulator and is the upper bound the learned
policies are measured against.

Modules: :mod:`~training.sim.policies.base` (protocol, feedback),
:mod:`~training.sim.policies.olla` (ILLA, OLLA, eOLLA),
:mod:`~training.sim.policies.salad`, :mod:`~training.sim.policies.genie` (genie,
fixed MCS), :mod:`~training.sim.policies.onnx`, :mod:`~training.sim.policies.spec`
(:func:`parse_policy`).
"""

from training.sim.policies.base import BLER_TARGET, McsPolicy
from training.sim.policies.genie import Fixed, Genie
from training.sim.policies.olla import (
    OFFSET_LIMIT_DB,
    EOlla,
    Illa,
    Olla,
    cqi_sinr_db,
    threshold_mcs,
)
from training.sim.policies.onnx import OnnxPolicy, check_policy_model
from training.sim.policies.salad import Salad
from training.sim.policies.spec import SPEC_FORMS, parse_policy

__all__ = [
    "BLER_TARGET",
    "OFFSET_LIMIT_DB",
    "SPEC_FORMS",
    "EOlla",
    "Fixed",
    "Genie",
    "Illa",
    "McsPolicy",
    "Olla",
    "OnnxPolicy",
    "Salad",
    "check_policy_model",
    "cqi_sinr_db",
    "parse_policy",
    "threshold_mcs",
]
