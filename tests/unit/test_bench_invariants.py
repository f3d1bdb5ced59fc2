"""The chaos invariant checker's counting: lost and doubled, stage by stage."""

from __future__ import annotations

from bench.chaos.invariants import ARMED, ROUTED, SUBMITTED, Facts, tally

RESPONSE = f"{ARMED}:response"


def _clean(n: int) -> Facts:
    facts = Facts()
    for seq in range(n):
        case = f"c{seq}"
        facts.accepted[seq] = case
        facts.committed[seq] = [case]
        facts.assignments[case] = 1
        facts.deadlines[(case, "response")] = 1
        for label in (SUBMITTED, ROUTED, RESPONSE):
            facts.stream[(case, label)] = 1
            facts.events[(case, label)].add(f"{case}-{label}")
            facts.audience[(case, label)].add(f"{case}-{label}")
    return facts


def test_a_clean_run_counts_every_stage_and_nothing_lost_or_doubled() -> None:
    t = tally(_clean(5))
    assert (t.submitted, t.routed, t.armed, t.notified, t.lost, t.doubled) == (5, 5, 5, 5, 0, 0)
    assert t.ok
    assert t.problems == []


def test_redelivered_copies_of_one_event_are_not_doubles() -> None:
    facts = _clean(1)
    facts.events[("c0", ROUTED)] |= {"c0-" + ROUTED}  # the same id seen again on the topic
    assert tally(facts).ok


def test_a_202_that_intake_never_stored_is_lost() -> None:
    facts = _clean(2)
    del facts.committed[1]
    t = tally(facts)
    assert t.lost == 1
    assert "accepted (202) but not in intake's table" in t.problems[0]


def test_a_need_never_armed_is_lost() -> None:
    facts = _clean(3)
    del facts.deadlines[("c2", "response")]
    t = tally(facts)
    assert (t.armed, t.lost, t.doubled) == (2, 1, 0)
    assert not t.ok


def test_a_need_missing_from_an_audience_topic_is_lost() -> None:
    facts = _clean(2)
    del facts.audience[("c0", RESPONSE)]
    t = tally(facts)
    assert (t.notified, t.lost) == (1, 1)


def test_two_routing_decisions_or_two_routed_events_are_doubles() -> None:
    facts = _clean(3)
    facts.assignments["c0"] = 2
    facts.events[("c1", ROUTED)].add("another-id")
    t = tally(facts)
    assert (t.routed, t.doubled, t.lost) == (1, 2, 0)


def test_one_submission_stored_twice_is_doubled() -> None:
    facts = _clean(1)
    facts.committed[0].append("c0-bis")
    t = tally(facts)
    assert t.doubled >= 1
    assert any("2 cases in intake" in p for p in t.problems)


def test_a_committed_need_without_a_reply_still_counts() -> None:
    facts = _clean(2)
    del facts.accepted[1]  # intake was killed before it could answer, but had committed
    t = tally(facts)
    assert (t.submitted, t.lost) == (2, 0)


def test_several_deadline_kinds_each_count_once() -> None:
    facts = _clean(1)
    label = f"{ARMED}:resolution"
    facts.deadlines[("c0", "resolution")] = 1
    facts.events[("c0", label)].add("r1")
    facts.stream[("c0", label)] = 1
    facts.audience[("c0", label)].add("r1")
    assert tally(facts).ok
    # sla re-publishes `deadline armed` when it recomputes a deadline: a distinct event, not a double.
    facts.events[("c0", label)].add("r2")
    facts.stream[("c0", label)] = 2
    facts.audience[("c0", label)].add("r2")
    assert tally(facts).ok
    facts.deadlines[("c0", "resolution")] = 2  # but two stored deadlines of one kind are
    t = tally(facts)
    assert (t.armed, t.doubled) == (0, 1)
