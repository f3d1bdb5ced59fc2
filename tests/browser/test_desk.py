"""The workbench /desk in real headless Chromium: a department, the street office and a team lead at
work against the four services as processes, with the resident following along on /r."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.desk_support import assert_no_secret, desk_login, new_page, routing_case, submit

pytestmark = pytest.mark.browser


async def test_department_signs_progresses_resolves_and_the_resident_reopens(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls, errors = desk_stack, []
    key = keys["departments"]["urban_mgmt"]
    desk = await new_page(browser, errors=errors)
    await desk_login(desk, urls["notify"], key)
    assert await desk.text_content("#who") == "城市管理委员会"
    await assert_no_secret(desk, key)

    need = await submit(
        urls["intake"],
        {
            "category": "street_light_out",
            "community": "jinrongjie",
            "description": "金融街8号楼前路灯不亮，晚上很黑",
            "address": "金融街8号楼",
            "reporter": {"phone": "13800138000"},
        },
    )
    case_id, token = need["case_id"], need["access_token"]
    row = f"#inbox li[data-case='{case_id}']"
    # It arrives without a reload (SSE), unsigned, and the title shows a badge.
    await desk.wait_for_selector(f"{row}[data-status='routed'] .badge.unsigned", timeout=30000)
    await desk.wait_for_function("() => document.title.startsWith('(')")
    await desk.click(f"{row} button")
    await desk.wait_for_selector("#detail:not([hidden]) #act-sign")
    facts = await desk.inner_text("#facts")
    assert "金融街8号楼前路灯不亮" in facts
    assert "金融街8号楼" in facts
    assert await desk.inner_text("#reasons") != ""
    await desk.wait_for_selector("#deadlines li[data-deadline]")
    await desk.click("#act-sign")
    await desk.wait_for_selector("#detail[data-status='signed'] #act-progress", timeout=20000)

    # The resident opens their link: the token leaves the address bar at once.
    resident = await new_page(browser, errors=errors)
    await resident.goto(f"{urls['intake']}/r#t={token}")
    await resident.wait_for_selector("#view-case:not([hidden])[data-status='signed']", timeout=20000)
    assert resident.url.endswith("/r")
    await assert_no_secret(resident, token)

    await desk.click("#act-progress")
    await desk.fill("#f-note", "已派人检修线路")
    await desk.click("#form-submit")
    await desk.wait_for_selector("#notice:has-text('已完成：报告进展')", timeout=20000)
    await desk.click("#act-resolve")
    await desk.fill("#f-note", "更换了灯泡和线路，已恢复照明")
    await desk.click("#form-submit")
    await desk.wait_for_selector("#detail[data-status='resolved']", timeout=20000)

    # The resident sees it change, says it is not solved, and the case comes back reopened.
    await resident.wait_for_selector("#view-case[data-status='resolved'] #callback:not([hidden])", timeout=30000)
    await resident.check("input[name=solved][value=false]")
    await resident.check("input[name=satisfaction][value=dissatisfied]")
    await resident.fill("#comment", "晚上还是不亮")
    await resident.click("#callback-send")
    await resident.wait_for_selector("#callback-done:not([hidden])")
    assert "重新办理" in await resident.inner_text("#callback-done")
    await desk.wait_for_selector(f"{row}[data-status='reopened']", timeout=30000)
    await desk.wait_for_selector("#detail[data-status='reopened'] #act-sign", timeout=20000)

    # A step in the wrong state shows the current state in words, not a code.
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{urls['routing']}/v1/cases/{case_id}/sign", headers={"authorization": f"Bearer {key}"}
        )
        assert resp.status_code == 200, resp.text
    await desk.click("#act-sign")
    await desk.wait_for_selector("#notice:has-text('现在是“已签收”')", timeout=20000)
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def _decline_until_arbitration(urls: dict[str, str], keys: dict[str, Any], case_id: str) -> None:
    admin = keys["admin"]
    for _ in range(4):
        case = await routing_case(urls["routing"], admin, case_id)
        if case["status"] == "arbitration":
            return
        assignee = case["assignee"]
        if case["status"] != "routed" or assignee is None or assignee["kind"] != "department":
            await routing_case(urls["routing"], admin, case_id, status="routed")
            continue
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.post(
                f"{urls['routing']}/v1/cases/{case_id}/decline",
                json={"reason_code": "not_our_area"},
                headers={"authorization": f"Bearer {keys['departments'][assignee['code']]}"},
            )
        assert resp.status_code == 200, resp.text
    await routing_case(urls["routing"], admin, case_id, status="arbitration")


async def test_street_office_triages_and_arbitrates(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls, errors = desk_stack, []
    desk = await new_page(browser, errors=errors)
    await desk_login(desk, urls["notify"], keys["street_offices"]["wanxing"])
    unclear = await submit(urls["intake"], {"community": "jinrongjie", "description": "有件事想请街道帮忙看看"})
    row = f"#inbox li[data-case='{unclear['case_id']}']"
    await desk.wait_for_selector(row, timeout=30000)
    await desk.click(f"{row} button")
    await desk.click("#act-triage")
    await desk.select_option("#f-category", "street_light_out")
    await desk.click("#form-submit")
    await desk.wait_for_selector("#notice:has-text('已完成')", timeout=20000)
    case = await routing_case(urls["routing"], keys["admin"], unclear["case_id"], status="routed")
    assert case["category"] == "street_light_out"
    assert case["assignee"]["kind"] == "department"

    twice = await submit(
        urls["intake"], {"category": "street_light_out", "community": "jinrongjie", "description": "金融街2号路灯坏了"}
    )
    await _decline_until_arbitration(urls, keys, twice["case_id"])
    await desk.click("#tab-arbitration")
    row = f"#inbox li[data-case='{twice['case_id']}']"
    await desk.wait_for_selector(row, timeout=20000)
    await desk.click(f"{row} button")
    await desk.click("#act-arbitrate")
    await desk.select_option("#f-assignee", "department:power")
    await desk.fill("#f-note", "裁定由供电公司办理")
    await desk.click("#form-submit")
    await desk.wait_for_selector("#notice:has-text('已完成')", timeout=20000)
    case = await routing_case(urls["routing"], keys["admin"], twice["case_id"], status="routed")
    assert case["assignee"] == {"kind": "department", "code": "power"}
    assert case["final"]
    # The dashboard's rows lead into the case on the workbench, and its view exports as CSV and XLSX.
    await desk.goto(f"{urls['notify']}/dashboard")
    link = f"#cases-body tr[data-case='{twice['case_id']}'] a"
    await desk.wait_for_selector(link, timeout=20000)
    await desk.wait_for_selector("#plan-chart svg g[data-community='jinrongjie']")
    async with desk.expect_download() as got:
        await desk.click("#export-csv")
    text = Path(await (await got.value).path()).read_text(encoding="utf-8-sig")  # noqa: ASYNC240 (a small file)
    assert text.splitlines()[0].startswith("诉求,时限,类别")
    assert twice["case_id"] in text
    async with desk.expect_download() as got:
        await desk.click("#export-xlsx")
    with zipfile.ZipFile(await (await got.value).path()) as book:
        assert twice["case_id"] in book.read("xl/worksheets/sheet1.xml").decode()
    await desk.click(link)
    await desk.wait_for_url(f"**/desk#case={twice['case_id']}")
    await desk.wait_for_selector("#detail:not([hidden])")
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def test_team_lead_signs_and_assigns_a_member(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls = desk_stack
    need = await submit(
        urls["intake"],
        {"category": "corridor_clutter", "community": "chaoyangli", "description": "朝阳里3号楼楼道堆满杂物"},
    )
    case = await routing_case(urls["routing"], keys["admin"], need["case_id"], status="routed")
    assert case["assignee"]["kind"] == "team", case
    team = case["assignee"]["code"]
    desk = await new_page(browser)
    await desk_login(desk, urls["notify"], keys["teams"][team])
    row = f"#inbox li[data-case='{need['case_id']}']"
    await desk.wait_for_selector(row, timeout=20000)
    await desk.click(f"{row} button")
    await desk.click("#act-sign")
    await desk.wait_for_selector("#detail[data-status='signed']", timeout=20000)
    await desk.click("#act-assign")
    options = await desk.eval_on_selector_all("#f-member option", "els => els.map(e => e.value)")
    await desk.select_option("#f-member", options[-1])
    await desk.click("#form-submit")
    await desk.wait_for_selector("#notice:has-text('已完成')", timeout=20000)
    assert (await routing_case(urls["routing"], keys["admin"], need["case_id"]))["member"] == options[-1]
