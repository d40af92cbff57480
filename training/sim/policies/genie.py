"""Reference policies that ignore the reports: the genie (true channel) and a fixed MCS."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.sim.link import LinkSimulator
from xapp import nr_tables
from xapp.features import ReportBatch


class Genie:
    """Knows the true channel of the slot: picks the MCS with the largest expected goodput.

    The exception to "policies see only the reports", by design: it reads the
    simulator and is the upper bound the learned policies are measured against.
    """

    name = "genie"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Argmax over MCS of bits delivered in expectation (lowest MCS on ties)."""
        return np.asarray(np.argmax(sim.expected_goodput(), axis=1), dtype=np.int64)


class Fixed:
    """The same MCS for every UE and slot (clipped to each UE's table)."""

    def __init__(self, mcs: int) -> None:
        if not 0 <= mcs < nr_tables.NUM_ACTIONS:
            raise ValueError(f"fixed MCS must be in 0..{nr_tables.NUM_ACTIONS - 1}, got {mcs}")
        self.mcs = mcs
        self.name = f"fixed:{mcs}"

    def reset(self, n: int) -> None:
        """No state."""

    def act(self, reports: ReportBatch, sim: LinkSimulator) -> npt.NDArray[np.int64]:
        """Return the fixed MCS, clipped to each UE's table."""
        return np.minimum(self.mcs, nr_tables.max_mcs(reports.mcs_table))
