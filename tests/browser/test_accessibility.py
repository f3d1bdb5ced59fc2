"""axe-core on every page in both languages (no serious or critical violation), keyboard use, and the
README's screenshots (zh and en, phone 390×844 and desktop 1366×900) into docs/screenshots/."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.browser.desk_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_check,
    desk_login,
    new_page,
    routing_case,
    submit,
)

pytestmark = pytest.mark.browser
Opener = Callable[[Any], Awaitable[None]]


async def _to_english(page: Any) -> None:
    await page.click(".lang-toggle >> visible=true")
    await page.wait_for_function("document.documentElement.lang === 'en'")


async def _check_and_shoot(browser: Any, name: str, opener: Opener) -> None:
    """Open the page at both sizes in both languages: axe each, and take its screenshots."""
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await new_page(browser, viewport)
        await opener(page)
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await asyncio.sleep(0.5)
        await axe_check(page, f"{name} zh {size}")
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-zh-{size}.png"), full_page=True)
        await _to_english(page)
        await asyncio.sleep(0.3)
        await axe_check(page, f"{name} en {size}")
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-en-{size}.png"), full_page=True)
        await page.context.close()


async def test_every_page_passes_axe_in_both_languages_and_works_by_keyboard(
    desk_stack: dict[str, str], keys: dict[str, Any], browser: Any
) -> None:
    urls = desk_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dept = keys["departments"]["urban_mgmt"]
    street = keys["street_offices"]["wanxing"]
    needs = [
        ("street_light_out", "金融街3号楼前路灯不亮了，晚上很黑，老人不敢出门"),
        ("street_light_out", "金融街7号楼路灯闪烁"),
        (None, "楼下总有人乱停车，堵住了消防通道"),
        ("water_outage", "金融街5号楼停水一上午了"),
    ]
    made = [
        await submit(urls["intake"], {"description": d, "community": "jinrongjie", **({"category": c} if c else {})})
        for c, d in needs
    ]
    # The first case is resolved, so the resident's page shows the callback.
    first = made[0]["case_id"]
    await routing_case(urls["routing"], keys["admin"], first, status="routed")
    async with httpx.AsyncClient(timeout=10, headers={"authorization": f"Bearer {dept}"}) as client:
        for step, body in (("sign", None), ("progress", {"note": "已派人检修"}), ("resolve", {"note": "已更换灯泡"})):
            resp = await client.post(f"{urls['routing']}/v1/cases/{first}/{step}", json=body)
            assert resp.status_code == 200, resp.text
    await routing_case(urls["routing"], keys["admin"], made[1]["case_id"], status="routed")

    async def desk_login_page(page: Any) -> None:
        await page.goto(f"{urls['notify']}/desk")
        await page.wait_for_selector("#login:not([hidden])")

    async def desk_department(page: Any) -> None:
        await desk_login(page, urls["notify"], dept)
        await page.wait_for_selector(f"#inbox li[data-case='{made[1]['case_id']}']")
        # By keyboard: Tab to the first case in the inbox and open it with Enter.
        await page.focus("#inbox li button")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#detail:not([hidden]) #act-sign")
        assert await page.evaluate("document.activeElement.id") == "detail-title"

    async def desk_street(page: Any) -> None:
        await desk_login(page, urls["notify"], street)
        await page.wait_for_selector("#inbox li button")
        await page.click("#inbox li button")
        await page.wait_for_selector("#detail:not([hidden]) #act-triage")
        await page.click("#act-triage")

    async def dashboard(page: Any) -> None:
        await page.goto(f"{urls['notify']}/dashboard")
        await page.wait_for_selector("#login:not([hidden])")
        await page.fill("#login-key", street)
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#cases-body tr[data-case]", timeout=20000)
        await page.wait_for_selector("#supply-chart .supply-row")

    async def resident_form(page: Any) -> None:
        await page.goto(f"{urls['intake']}/r")
        await page.wait_for_selector("#view-form:not([hidden]) .tile")
        # By keyboard: Tab reaches the picture-and-word tiles; arrow keys and Space choose one.
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Space")
        assert await page.evaluate("document.activeElement.name") == "category"
        assert await page.evaluate("!!document.querySelector('input[name=category]:checked')")

    async def resident_case(page: Any) -> None:
        await page.goto(f"{urls['intake']}/r#t={made[0]['access_token']}")
        await page.wait_for_selector("#view-case[data-status='resolved'] #callback:not([hidden])", timeout=20000)

    for name, opener in (
        ("desk-login", desk_login_page),
        ("desk-department", desk_department),
        ("desk-street-office", desk_street),
        ("dashboard", dashboard),
        ("resident-form", resident_form),
        ("resident-case", resident_case),
    ):
        await _check_and_shoot(browser, name, opener)
