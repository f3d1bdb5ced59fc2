"""Routing's case use cases: the workflow steps, the reads, and the reactions to intake's events."""

from services.routing.cases.service_layer.reactions import (
    FeedbackApplied,
    RoutingBatch,
    apply_feedback,
    record_new_cases,
    route_need,
    write_decisions,
)
from services.routing.cases.service_layer.reads import can_read, case_history, read_case, work_list
from services.routing.cases.service_layer.steps import (
    Work,
    actor_of,
    arbitrate,
    assign_member,
    await_resident,
    change_priority,
    decline,
    progress,
    resolve,
    resume,
    sign,
    triage,
)

__all__ = [
    "FeedbackApplied",
    "RoutingBatch",
    "Work",
    "actor_of",
    "apply_feedback",
    "arbitrate",
    "assign_member",
    "await_resident",
    "can_read",
    "case_history",
    "change_priority",
    "decline",
    "progress",
    "read_case",
    "record_new_cases",
    "resolve",
    "resume",
    "route_need",
    "sign",
    "triage",
    "work_list",
    "write_decisions",
]
