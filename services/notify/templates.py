"""Messages per event type in Chinese and English, for e-mail and SMS (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Any

from shared.catalogue import Catalogue

# type -> (zh, en); {case} is the case id, other fields come from the event's data.
TEMPLATES: dict[str, tuple[str, str]] = {
    "lastmeter.need.submitted": ("您反映的诉求已受理（{category}）", "Your report was received ({category})"),
    "lastmeter.need.duplicate_linked": (
        "又有居民反映了同一问题，已合并处理（共{reporter_count}人反映）",
        "Another resident reported the same problem; it was linked ({reporter_count} reports)",
    ),
    "lastmeter.case.feedback_received": ("已收到回访评价：{satisfaction}", "Callback answer received: {satisfaction}"),
    "lastmeter.case.routed": ("诉求已派单至{assignee}", "Case dispatched to {assignee}"),
    "lastmeter.case.signed": ("{assignee}已签收", "{assignee} signed for the case"),
    "lastmeter.case.declined": (
        "{assignee}退单（{reason_code}），正在重新派单",
        "{assignee} declined the case ({reason_code}); it is being re-routed",
    ),
    "lastmeter.case.arbitration_requested": (
        "诉求已提交街道裁定：{reason}",
        "Sent to the street office to decide: {reason}",
    ),
    "lastmeter.case.progress": ("处理进展：{note}", "Progress: {note}"),
    "lastmeter.case.member_assigned": ("志愿者已接单", "A volunteer took the case"),
    "lastmeter.case.awaiting_resident": ("需要您补充信息或配合", "We need information or access from you"),
    "lastmeter.case.resumed": ("诉求继续办理", "Work on the case resumed"),
    "lastmeter.case.priority_changed": ("诉求优先级调整为{priority}", "Priority changed to {priority}"),
    "lastmeter.case.resolved": ("诉求已办结：{note}", "Case resolved: {note}"),
    "lastmeter.case.reopened": ("诉求已重新办理：{reason}", "Case reopened: {reason}"),
    "lastmeter.case.closed": ("诉求已结案", "Case closed"),
    "lastmeter.sla.deadline_armed": (
        "时限已开始计时（{kind}），截止{due_at}",
        "Deadline started ({kind}), due {due_at}",
    ),
    "lastmeter.sla.warning": (
        "时限预警（{kind}）：已用{percent}，截止{due_at}",
        "Deadline warning ({kind}): {percent} used, due {due_at}",
    ),
    "lastmeter.sla.breached": ("已超时（{kind}），截止时间{due_at}", "Deadline breached ({kind}), was due {due_at}"),
    "lastmeter.sla.escalated": ("已升级：{level}", "Escalated: {level}"),
    "lastmeter.sla.deadline_stopped": ("时限已停止（{kind}）", "Deadline stopped ({kind})"),
}
WORDS: dict[str, tuple[str, str]] = {
    "response": ("签收", "sign-for"),
    "first_feedback": ("首次反馈", "first feedback"),
    "resolution": ("办结", "resolution"),
    "remind": ("催办", "reminder"),
    "supervise": ("督办", "supervision by the street office"),
    "district": ("上报区级", "referred to the district"),
    "not_our_area": ("属地不符", "not our area"),
    "unclear_ownership": ("权属不清", "unclear ownership"),
    "overlapping_duties": ("职能交叉", "overlapping duties"),
    "other": ("其他", "other"),
    "satisfied": ("满意", "satisfied"),
    "basically_satisfied": ("基本满意", "basically satisfied"),
    "dissatisfied": ("不满意", "dissatisfied"),
    "emergency": ("紧急", "emergency"),
    "high": ("高", "high"),
    "normal": ("普通", "normal"),
    "low": ("低", "low"),
}


@dataclass(frozen=True)
class Message:
    """A rendered notification."""

    subject: str
    body: str


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _name(catalogue: Catalogue | None, kind: str, code: str | None, en: bool) -> str:
    if not code:
        return "未分类" if not en else "unclassified"
    found: Any = None
    if catalogue is not None:
        lookup = {"department": catalogue.department, "team": catalogue.team, "street_office": catalogue.street}
        found = lookup.get(kind, catalogue.category)(code)
    if found is None:
        return code
    return str(found.name_en if en else found.name)


def render(
    event_type: str, data: dict[str, Any], *, case_id: str, language: str, catalogue: Catalogue | None = None
) -> Message:
    """Subject and body for one event in `language` ('zh' or 'en'); unknown types get a generic text."""
    en = language == "en"
    fields = _Lenient({k: v for k, v in data.items() if isinstance(v, str | int | float)})
    for key, value in list(fields.items()):
        if isinstance(value, str) and value in WORDS:
            fields[key] = WORDS[value][1 if en else 0]
    fields["category"] = _name(catalogue, "category", data.get("category"), en)
    assignee = data.get("assignee") or {}
    if isinstance(assignee, dict) and assignee:
        fields["assignee"] = _name(catalogue, assignee.get("kind", ""), assignee.get("code"), en)
    if isinstance(data.get("fraction"), int | float):
        fields["percent"] = f"{round(data['fraction'] * 100)}%"
    if isinstance(data.get("due_at"), str):
        fields["due_at"] = data["due_at"][:16].replace("T", " ")
    zh, english = TEMPLATES.get(event_type, ("诉求有新动态", "Your case was updated"))
    line = Formatter().vformat(english if en else zh, (), fields)
    prefix = f"[lastmeter {case_id}] " if en else f"【最后一米 {case_id}】"
    footer = (
        "You receive this because you subscribed to updates of this case or area."
        if en
        else "您订阅了该诉求或辖区的动态，因此收到此消息。"
    )
    return Message(subject=f"{prefix}{line}"[:200], body=f"{line}\n\n{case_id}\n\n{footer}\n")


def confirmation_message(code: str, *, language: str, minutes: int) -> Message:
    """The only message an SMS or e-mail target gets before it confirms: its code."""
    if language == "en":
        line = f"Your lastmeter confirmation code is {code} (valid {minutes} minutes)."
        footer = "Someone asked to send updates of a case or area here. If it was not you, ignore this message."
        return Message(subject=f"[lastmeter] {line}", body=f"{line}\n\n{footer}\n")
    line = f"您的“最后一米”订阅验证码为{code}，{minutes}分钟内有效。"
    footer = "有人申请将诉求或辖区动态发送到这里；如非本人操作，请忽略本消息。"
    return Message(subject=f"【最后一米】{line}", body=f"{line}\n\n{footer}\n")
