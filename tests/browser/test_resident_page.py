"""The residents' page /r in real headless Chromium at phone size: submit, keep the link, come back."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.desk_support import PHONE, assert_no_secret, new_page, routing_case, submit

pytestmark = pytest.mark.browser


async def test_a_resident_submits_keeps_the_link_and_only_it_opens_their_case(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls, errors = desk_stack, []
    page = await new_page(browser, PHONE, errors)
    resp = await page.goto(f"{urls['intake']}/r")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["referrer-policy"] == "no-referrer"
    await page.wait_for_selector("#view-form:not([hidden]) .tile")
    # Without a description or community the page says so in words, beside the field.
    await page.click("#send")
    assert await page.text_content("#description-error") == "请说说是什么情况"
    assert await page.evaluate("document.activeElement.id") == "description"
    await page.click(".tile:has-text('路灯不亮')")
    await page.fill("#description", "我家楼下的路灯坏了三天了")
    await page.select_option("#community", "jinrongjie")
    await page.fill("#address", "金融街5号楼")
    await page.fill("#phone", "13900001111")
    await page.click("#send")
    await page.wait_for_selector("#view-case:not([hidden]) #saved:not([hidden])", timeout=20000)
    await page.wait_for_selector("#qr[src^='data:image/svg+xml']")
    link = await page.get_attribute("#my-link", "href")
    assert link
    match = re.fullmatch(rf"{re.escape(urls['intake'])}/r#t=(rt_[A-Za-z0-9_-]+)", link)
    assert match, link
    token = match.group(1)
    assert page.url.endswith("/r")
    await assert_no_secret(page, token)
    await page.wait_for_selector("#status:has-text('已交给负责单位')", timeout=20000)

    # The link opens the case in another browser; the session it makes opens that case only.
    other = await new_page(browser, PHONE, errors)
    await other.goto(link)
    await other.wait_for_selector("#view-case:not([hidden])[data-status='routed']", timeout=20000)
    assert other.url == f"{urls['intake']}/r"
    assert "金融街5号楼" in await other.inner_text("#facts")
    another = await submit(
        urls["intake"], {"category": "water_outage", "community": "jinrongjie", "description": "停水了"}
    )
    status = await other.evaluate(f"fetch('/v1/cases/{another['case_id']}').then(r => r.status)")
    assert status == 403
    cookies = {c["name"]: c["value"] for c in await other.context.cookies()}
    async with httpx.AsyncClient(timeout=10, cookies=cookies) as client:
        resp = await client.get(f"{urls['routing']}/v1/cases")
        assert resp.status_code == 403
    # A link that does not work says so in plain words.
    await other.goto(f"{urls['intake']}/r#t=rt_notatokenatallnotatokenatall")
    await other.wait_for_selector("#form-error:has-text('链接已经失效')")
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def test_a_grid_worker_files_on_behalf_and_may_force_a_new_case(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls = desk_stack
    first = await submit(
        urls["intake"],
        {"category": "street_light_out", "community": "jinrongjie", "description": "金融街6号楼路灯不亮"},
    )
    page = await new_page(browser, PHONE)
    await page.goto(f"{urls['intake']}/r")
    await page.click("#staff-login summary")
    await page.fill("#staff-key", keys["departments"]["water"])
    await page.click("#staff-submit")
    await page.wait_for_selector("#staff-error:has-text('不能在本页使用')")
    key = keys["grid_workers"]["wanxing"]
    await page.fill("#staff-key", key)
    await page.click("#staff-submit")
    await page.wait_for_selector("#staff-banner:not([hidden])")
    await page.wait_for_selector("#force-row:not([hidden])")
    await assert_no_secret(page, key)
    await page.click(".tile:has-text('路灯不亮')")
    await page.fill("#description", "金融街6号楼路灯不亮，另一根灯杆")
    await page.select_option("#community", "jinrongjie")
    await page.check("#force-new")
    await page.click("#send")
    await page.wait_for_selector("#saved:not([hidden]) #my-link, #form-error:not(:empty)", timeout=20000)
    assert await page.text_content("#form-error") == ""
    await page.wait_for_selector("#view-case[data-status]", timeout=20000)
    # A new case, not linked to the first one, reported by a grid worker.
    link = await page.get_attribute("#my-link", "href")
    assert link
    assert "#t=rt_" in link
    cases = await routing_case(urls["routing"], keys["admin"], first["case_id"])
    assert cases["case_id"] == first["case_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{urls['routing']}/v1/cases",
            params={"street": "wanxing"},
            headers={"authorization": f"Bearer {keys['admin']}"},
        )
    descriptions = [c["description"] for c in resp.json()["items"]]
    assert "金融街6号楼路灯不亮，另一根灯杆" in descriptions
    # Leaving ends the session: the page is anonymous again and the API no longer knows the caller.
    await page.click("#leave")
    await page.wait_for_selector("#staff-banner[hidden]", state="attached")
    assert await page.evaluate(f"fetch('/v1/cases/{first['case_id']}').then(r => r.status)") == 401
