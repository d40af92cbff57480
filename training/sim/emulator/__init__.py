"""The E2 / gNB emulator: simulated cells asking a running xApp for every slot's MCS.

Each cell is one :class:`~training.sim.link.LinkSimulator`, configured exactly as
``linkadapt simulate`` configures its run (cell ``c`` of a run with seed ``K`` is
``simulate --seed K+c``). Every slot, each cell

1. sends the reports of the UEs that start a new transport block this slot
   (:meth:`LinkSimulator.needs_decision`; with ``all_ues`` every UE) to the xApp:
   one unary ``Decide`` call, or one message on the cell's ``StreamDecisions``
   stream. By default a batch goes as ``ReportColumns`` with a columnar answer
   (the fast path for batches) and a single UE as one ``UeReport`` (the service
   decides a lone report with Python scalars, faster than decoding
   columns: docs/benchmarks.md); ``columnar`` True / False forces one form;
2. applies the returned MCS and steps the simulator, which computes the
   transmission outcome and feeds the HARQ ACK/NACK back into later reports.

UEs not asked (retransmission pending, all HARQ processes busy, or no data)
do not use the MCS of the slot at all, so asking only the others changes no KPI:
``simulate`` asks its policy for every UE and the simulator ignores the rest. A
stateless model (the ONNX policies the xApp serves) therefore gives the same
KPIs, decision for decision, through the service as in-process.

Slots run in lock step and as fast as the service answers (not paced to wall
time): the requests of all cells for a slot are built first, sent together, and
the simulators step once every answer (or failure) is in, so a cell's simulator
work never sits inside another cell's measured latency.

Latency is measured per request, from the send to the decoded answer. A request
*misses its deadline* when no valid answer arrived within ``deadline_us`` (default:
the slot duration of the scenario's numerology, 500 us at mu = 1). A late answer
is still applied, as the emulator is not a real-time system, unless
``strict_deadline`` is set: then the local fallback replaces it, as a gNB would.
A request *fails* when no valid answer arrives at all (service unreachable,
error status or error reply, ``timeout_ms`` passed): the cell applies the
xApp's own conservative fallback rule (:func:`xapp.policy.fallback_mcs`) locally,
counts the slot as missed and failed, drops its channel, and tries again at its
next slot after a backoff (20 ms doubling to 1 s) with a new connection. A
service restart therefore costs a handful of missed slots and the run resumes.
Statuses a retry cannot change (:data:`FATAL_STATUSES`: a missing or wrong
token, a target that is not a linkadapt service) stop the run at once with
:class:`EmulatorError`; a run in which no request got an answer ends with
``aborted`` naming the status the service answered.

KPIs are those of :func:`training.sim.closed_loop.kpis`, per cell and pooled over all
cells, plus latency percentiles, missed / failed slots and the fallback share.

This package imports numpy, grpcio, protobuf and the xApp's light modules only
(httpx for hot-swap drills): it runs in the serving image, without torch,
Gymnasium, tqdm or matplotlib.

Modules, each one idea, lower layers first:

- ``errors``: :class:`EmulatorError` (the run cannot go on), :class:`SlotFailure`;
- ``options``: :class:`EmulatorOptions`, its checks and limits; :class:`EmulateConfig`;
- ``wire``: report batches to ``DecisionRequest`` messages, answers back;
- ``transport``: one cell's gRPC channel (unary or stream) and the retry backoff;
- ``cell``: one simulated cell: its simulator, connection and counters;
- ``kpis``: KPIs pooled over cells and between snapshots, service figures;
- ``swap``: the hot-swap drill (model activations through REST);
- ``emulation``: the closed loop itself, :func:`emulate` and its result;
- ``ramp``: the load ramp over many emulations.
"""

# The names used outside the package, and the report encoder (whose table-driven
# rewrite lands in wire.py); everything else is imported from its module.
from training.sim.emulator.cell import LOCAL_FALLBACK, Cell
from training.sim.emulator.emulation import (
    FATAL_STATUSES,
    EmulationResult,
    emulate,
    run_emulation,
)
from training.sim.emulator.errors import EmulatorError, SlotFailure
from training.sim.emulator.options import MAX_CELLS, MAX_UES, EmulateConfig, EmulatorOptions
from training.sim.emulator.ramp import LoadStep, load_ramp
from training.sim.emulator.swap import SwapEvent
from training.sim.emulator.transport import Transport
from training.sim.emulator.wire import SERVICE_FALLBACK, build_request

__all__ = [
    "FATAL_STATUSES",
    "LOCAL_FALLBACK",
    "MAX_CELLS",
    "MAX_UES",
    "SERVICE_FALLBACK",
    "Cell",
    "EmulateConfig",
    "EmulationResult",
    "EmulatorError",
    "EmulatorOptions",
    "LoadStep",
    "SlotFailure",
    "SwapEvent",
    "Transport",
    "build_request",
    "emulate",
    "load_ramp",
    "run_emulation",
]
