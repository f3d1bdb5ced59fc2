"""Fixtures and helpers of the workbench and residents' page browser tests: a stack whose every
service admits the notify origin with the session cookie, a browser, contexts, login and axe."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devstack import free_port
from shared.procs import ServiceGroup
from tests.browser.test_dashboard import CHROMIUM_ARGS, chromium_path  # noqa: F401  (a fixture)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# The README's pictures are rewritten only when asked (LASTMETER_UPDATE_SCREENSHOTS=1); otherwise a
# run leaves them in tests/artifacts, so the suite never dirties the tree.
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    _ROOT / "docs" / "screenshots"
    if os.environ.get("LASTMETER_UPDATE_SCREENSHOTS") == "1"
    else _ROOT / "tests" / "artifacts" / "screenshots"
)


@pytest.fixture
def desk_stack(env: dict[str, str], keys: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, str]]:
    group = ServiceGroup(env=env, log_dir=tmp_path / "logs")
    ports = {name: free_port() for name in ("intake", "routing", "sla", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    # Every service lets the workbench's origin (notify) call with the session cookie, and no other.
    cors = {"LASTMETER_CORS_ORIGINS": json.dumps([urls["notify"]])}
    extra = {
        "notify": {
            "LASTMETER_DASHBOARD_SLA_URL": urls["sla"],
            "LASTMETER_DESK_INTAKE_URL": urls["intake"],
            "LASTMETER_DESK_ROUTING_URL": urls["routing"],
            **cors,
        },
        "intake": cors,
        "routing": cors,
        "sla": cors,
    }
    try:
        for name, port in ports.items():
            group.start(name, port=port, extra_env=extra[name])
        group.wait_ready(timeout=90)
        yield urls
    finally:
        group.stop_all()


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Any]:  # noqa: F811
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Any, viewport: dict[str, int] | None = None, errors: list[str] | None = None) -> Any:
    """A page in a context of its own (its own cookies), collecting console errors into `errors`."""
    context = await browser.new_context(viewport=viewport or DESKTOP, locale="zh-CN")
    page = await context.new_page()
    if errors is not None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


async def desk_login(page: Any, notify_url: str, key: str) -> None:
    """Log in at /desk by keyboard: the key field has the focus."""
    await page.goto(f"{notify_url}/desk")
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.evaluate("document.activeElement.id") == "login-key"
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#login[hidden]", state="attached")
    await page.wait_for_selector("#live.on", timeout=20000)


async def submit(intake_url: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(f"{intake_url}/v1/needs", json=body, headers=headers)
    assert resp.status_code in (200, 202), resp.text
    return dict(resp.json())


async def routing_case(routing_url: str, key: str, case_id: str, status: str | None = None) -> dict[str, Any]:
    """Routing's view of a case, waiting until it exists (and has `status`, if given)."""
    import asyncio

    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(150):  # 30 s
            resp = await client.get(f"{routing_url}/v1/cases/{case_id}", headers={"authorization": f"Bearer {key}"})
            if resp.status_code == 200 and (status is None or resp.json()["status"] == status):
                return dict(resp.json())
            await asyncio.sleep(0.2)
    raise AssertionError(f"case {case_id} never reached {status}: {resp.status_code} {resp.text}")


async def axe_check(page: Any, what: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    summary = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]
    assert not bad, f"{what}: {summary}"


async def assert_no_secret(page: Any, secret: str) -> None:
    """The key or token is in no storage, no URL and no readable cookie of the page."""
    stored = await page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie, location.href])"
    )
    assert secret not in stored
    assert "lastmeter_session" not in stored
