from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class McsTable(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MCS_TABLE_UNSPECIFIED: _ClassVar[McsTable]
    MCS_TABLE_QAM64: _ClassVar[McsTable]
    MCS_TABLE_QAM256: _ClassVar[McsTable]

class DecisionSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_SOURCE_UNSPECIFIED: _ClassVar[DecisionSource]
    DECISION_SOURCE_MODEL: _ClassVar[DecisionSource]
    DECISION_SOURCE_FALLBACK: _ClassVar[DecisionSource]
MCS_TABLE_UNSPECIFIED: McsTable
MCS_TABLE_QAM64: McsTable
MCS_TABLE_QAM256: McsTable
DECISION_SOURCE_UNSPECIFIED: DecisionSource
DECISION_SOURCE_MODEL: DecisionSource
DECISION_SOURCE_FALLBACK: DecisionSource

class HarqFeedback(_message.Message):
    __slots__ = ("ack", "mcs", "age_slots", "initial")
    ACK_FIELD_NUMBER: _ClassVar[int]
    MCS_FIELD_NUMBER: _ClassVar[int]
    AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    ack: bool
    mcs: int
    age_slots: int
    initial: bool
    def __init__(self, ack: _Optional[bool] = ..., mcs: _Optional[int] = ..., age_slots: _Optional[int] = ..., initial: _Optional[bool] = ...) -> None: ...

class CqiReport(_message.Message):
    __slots__ = ("cqi", "age_slots")
    CQI_FIELD_NUMBER: _ClassVar[int]
    AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    cqi: int
    age_slots: int
    def __init__(self, cqi: _Optional[int] = ..., age_slots: _Optional[int] = ...) -> None: ...

class UeReport(_message.Message):
    __slots__ = ("ue_id", "mcs_table", "wideband_cqi", "cqi_age_slots", "rank_indicator", "harq", "tb_initial_total", "tb_initial_errors", "last_mcs", "ss_sinr_db", "ss_rsrp_dbm", "buffer_bytes", "allocated_prbs", "num_tx_antennas", "numerology", "csi_period_slots", "target_bler", "cqi_history")
    UE_ID_FIELD_NUMBER: _ClassVar[int]
    MCS_TABLE_FIELD_NUMBER: _ClassVar[int]
    WIDEBAND_CQI_FIELD_NUMBER: _ClassVar[int]
    CQI_AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    RANK_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    HARQ_FIELD_NUMBER: _ClassVar[int]
    TB_INITIAL_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TB_INITIAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_MCS_FIELD_NUMBER: _ClassVar[int]
    SS_SINR_DB_FIELD_NUMBER: _ClassVar[int]
    SS_RSRP_DBM_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_PRBS_FIELD_NUMBER: _ClassVar[int]
    NUM_TX_ANTENNAS_FIELD_NUMBER: _ClassVar[int]
    NUMEROLOGY_FIELD_NUMBER: _ClassVar[int]
    CSI_PERIOD_SLOTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_BLER_FIELD_NUMBER: _ClassVar[int]
    CQI_HISTORY_FIELD_NUMBER: _ClassVar[int]
    ue_id: int
    mcs_table: McsTable
    wideband_cqi: int
    cqi_age_slots: int
    rank_indicator: int
    harq: _containers.RepeatedCompositeFieldContainer[HarqFeedback]
    tb_initial_total: int
    tb_initial_errors: int
    last_mcs: int
    ss_sinr_db: float
    ss_rsrp_dbm: float
    buffer_bytes: int
    allocated_prbs: int
    num_tx_antennas: int
    numerology: int
    csi_period_slots: int
    target_bler: float
    cqi_history: _containers.RepeatedCompositeFieldContainer[CqiReport]
    def __init__(self, ue_id: _Optional[int] = ..., mcs_table: _Optional[_Union[McsTable, str]] = ..., wideband_cqi: _Optional[int] = ..., cqi_age_slots: _Optional[int] = ..., rank_indicator: _Optional[int] = ..., harq: _Optional[_Iterable[_Union[HarqFeedback, _Mapping]]] = ..., tb_initial_total: _Optional[int] = ..., tb_initial_errors: _Optional[int] = ..., last_mcs: _Optional[int] = ..., ss_sinr_db: _Optional[float] = ..., ss_rsrp_dbm: _Optional[float] = ..., buffer_bytes: _Optional[int] = ..., allocated_prbs: _Optional[int] = ..., num_tx_antennas: _Optional[int] = ..., numerology: _Optional[int] = ..., csi_period_slots: _Optional[int] = ..., target_bler: _Optional[float] = ..., cqi_history: _Optional[_Iterable[_Union[CqiReport, _Mapping]]] = ...) -> None: ...

class ReportColumns(_message.Message):
    __slots__ = ("num_ues", "ue_id", "mcs_table", "wideband_cqi", "cqi_age_slots", "rank_indicator", "harq_ack", "harq_mcs", "harq_age_slots", "harq_initial", "tb_initial_total", "tb_initial_errors", "last_mcs", "ss_sinr_db", "ss_rsrp_dbm", "buffer_bytes", "allocated_prbs", "num_tx_antennas", "numerology", "csi_period_slots", "target_bler", "cqi_history_cqi", "cqi_history_age_slots")
    NUM_UES_FIELD_NUMBER: _ClassVar[int]
    UE_ID_FIELD_NUMBER: _ClassVar[int]
    MCS_TABLE_FIELD_NUMBER: _ClassVar[int]
    WIDEBAND_CQI_FIELD_NUMBER: _ClassVar[int]
    CQI_AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    RANK_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    HARQ_ACK_FIELD_NUMBER: _ClassVar[int]
    HARQ_MCS_FIELD_NUMBER: _ClassVar[int]
    HARQ_AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    HARQ_INITIAL_FIELD_NUMBER: _ClassVar[int]
    TB_INITIAL_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TB_INITIAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_MCS_FIELD_NUMBER: _ClassVar[int]
    SS_SINR_DB_FIELD_NUMBER: _ClassVar[int]
    SS_RSRP_DBM_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_PRBS_FIELD_NUMBER: _ClassVar[int]
    NUM_TX_ANTENNAS_FIELD_NUMBER: _ClassVar[int]
    NUMEROLOGY_FIELD_NUMBER: _ClassVar[int]
    CSI_PERIOD_SLOTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_BLER_FIELD_NUMBER: _ClassVar[int]
    CQI_HISTORY_CQI_FIELD_NUMBER: _ClassVar[int]
    CQI_HISTORY_AGE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    num_ues: int
    ue_id: bytes
    mcs_table: bytes
    wideband_cqi: bytes
    cqi_age_slots: bytes
    rank_indicator: bytes
    harq_ack: bytes
    harq_mcs: bytes
    harq_age_slots: bytes
    harq_initial: bytes
    tb_initial_total: bytes
    tb_initial_errors: bytes
    last_mcs: bytes
    ss_sinr_db: bytes
    ss_rsrp_dbm: bytes
    buffer_bytes: bytes
    allocated_prbs: bytes
    num_tx_antennas: bytes
    numerology: bytes
    csi_period_slots: bytes
    target_bler: bytes
    cqi_history_cqi: bytes
    cqi_history_age_slots: bytes
    def __init__(self, num_ues: _Optional[int] = ..., ue_id: _Optional[bytes] = ..., mcs_table: _Optional[bytes] = ..., wideband_cqi: _Optional[bytes] = ..., cqi_age_slots: _Optional[bytes] = ..., rank_indicator: _Optional[bytes] = ..., harq_ack: _Optional[bytes] = ..., harq_mcs: _Optional[bytes] = ..., harq_age_slots: _Optional[bytes] = ..., harq_initial: _Optional[bytes] = ..., tb_initial_total: _Optional[bytes] = ..., tb_initial_errors: _Optional[bytes] = ..., last_mcs: _Optional[bytes] = ..., ss_sinr_db: _Optional[bytes] = ..., ss_rsrp_dbm: _Optional[bytes] = ..., buffer_bytes: _Optional[bytes] = ..., allocated_prbs: _Optional[bytes] = ..., num_tx_antennas: _Optional[bytes] = ..., numerology: _Optional[bytes] = ..., csi_period_slots: _Optional[bytes] = ..., target_bler: _Optional[bytes] = ..., cqi_history_cqi: _Optional[bytes] = ..., cqi_history_age_slots: _Optional[bytes] = ...) -> None: ...

class DecisionRequest(_message.Message):
    __slots__ = ("schema_version", "cell_id", "slot", "reports", "columns", "columnar_response")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    COLUMNAR_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    cell_id: int
    slot: int
    reports: _containers.RepeatedCompositeFieldContainer[UeReport]
    columns: ReportColumns
    columnar_response: bool
    def __init__(self, schema_version: _Optional[int] = ..., cell_id: _Optional[int] = ..., slot: _Optional[int] = ..., reports: _Optional[_Iterable[_Union[UeReport, _Mapping]]] = ..., columns: _Optional[_Union[ReportColumns, _Mapping]] = ..., columnar_response: _Optional[bool] = ...) -> None: ...

class McsDecision(_message.Message):
    __slots__ = ("ue_id", "mcs", "mcs_table", "source", "model_id", "model_version")
    UE_ID_FIELD_NUMBER: _ClassVar[int]
    MCS_FIELD_NUMBER: _ClassVar[int]
    MCS_TABLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ue_id: int
    mcs: int
    mcs_table: McsTable
    source: DecisionSource
    model_id: str
    model_version: str
    def __init__(self, ue_id: _Optional[int] = ..., mcs: _Optional[int] = ..., mcs_table: _Optional[_Union[McsTable, str]] = ..., source: _Optional[_Union[DecisionSource, str]] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class DecisionError(_message.Message):
    __slots__ = ("code", "message", "field", "ue_index")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    UE_INDEX_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    ue_index: int
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ..., ue_index: _Optional[int] = ...) -> None: ...

class DecisionColumns(_message.Message):
    __slots__ = ("mcs", "source", "model_id", "model_version")
    MCS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    mcs: bytes
    source: bytes
    model_id: str
    model_version: str
    def __init__(self, mcs: _Optional[bytes] = ..., source: _Optional[bytes] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class DecisionResponse(_message.Message):
    __slots__ = ("cell_id", "slot", "decisions", "error", "columns")
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    cell_id: int
    slot: int
    decisions: _containers.RepeatedCompositeFieldContainer[McsDecision]
    error: DecisionError
    columns: DecisionColumns
    def __init__(self, cell_id: _Optional[int] = ..., slot: _Optional[int] = ..., decisions: _Optional[_Iterable[_Union[McsDecision, _Mapping]]] = ..., error: _Optional[_Union[DecisionError, _Mapping]] = ..., columns: _Optional[_Union[DecisionColumns, _Mapping]] = ...) -> None: ...
