"""Logical topic names. A deployment prefixes them (ServiceSettings.topic); keys are case ids."""

INTAKE_EVENTS = "intake.events"
ROUTING_EVENTS = "routing.events"
SLA_EVENTS = "sla.events"
CATALOGUE_EVENTS = "catalogue.events"
DEADLETTER = "deadletter"

# Every topic a service publishes its own case events on.
CASE_EVENT_TOPICS = (INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS)
CORE_TOPICS = (*CASE_EVENT_TOPICS, CATALOGUE_EVENTS, DEADLETTER)
PARTITIONS = 6
# Dead letters are few and read by operators, not scaled consumers.
DEADLETTER_PARTITIONS = 3
# One department's or team's own topic: a few consumers at most (their own systems).
AUDIENCE_PARTITIONS = 3


def audience_topic(kind: str, code: str) -> str:
    """The topic an audience subscribes to: dept.<code>, team.<code> or street.<code>."""
    prefix = {"department": "dept", "team": "team", "street_office": "street"}[kind]
    return f"{prefix}.{code}"
