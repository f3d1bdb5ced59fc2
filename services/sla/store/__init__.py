"""SLA's SQL: cases, deadlines, timers, firings, rate counters and input watermarks (all of it)."""

from services.sla.store.cases import get_case, lock_case, note_routed, note_submitted, update_case
from services.sla.store.deadlines import (
    claim_due,
    deadlines_view,
    drop_timers,
    fired_steps,
    insert_deadlines,
    insert_timers,
    load_deadlines,
    next_fire_at,
    notify_timers,
    record_firings,
    save_deadline,
    to_deadline,
)
from services.sla.store.rates import add_increments, rate_rows
from services.sla.store.types import Conn, Connection, Pool, Record
from services.sla.store.watermarks import low_watermark, raise_watermarks, register_partitions

__all__ = [
    "Conn",
    "Connection",
    "Pool",
    "Record",
    "add_increments",
    "claim_due",
    "deadlines_view",
    "drop_timers",
    "fired_steps",
    "get_case",
    "insert_deadlines",
    "insert_timers",
    "load_deadlines",
    "lock_case",
    "low_watermark",
    "next_fire_at",
    "note_routed",
    "note_submitted",
    "notify_timers",
    "raise_watermarks",
    "rate_rows",
    "record_firings",
    "register_partitions",
    "save_deadline",
    "to_deadline",
    "update_case",
]
