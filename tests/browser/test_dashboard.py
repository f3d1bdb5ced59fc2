"""The street office's dashboard in real headless Chromium against the four services as processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.devstack import free_port
from shared.events import Assignee, make_event
from shared.events.sla import DeadlineWarning
from shared.procs import ServiceGroup

pytestmark = pytest.mark.browser
CHROMIUM = Path(os.environ.get("LASTMETER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_ENABLE = (
    "browser tests need Debian's chromium and a CJK font: `apt-get install -y chromium fonts-wqy-zenhei` "
    "(and the playwright Python package from the test extras)"
)
NEEDS = [
    ("street_light_out", "jinrongjie", "金融街3号楼前路灯不亮了，晚上很黑"),
    ("water_outage", "yibinxili", "宜宾西里5号楼停水一上午了"),
    ("corridor_clutter", "huazhangli", "华章里2门楼道堆满杂物和花盆"),
    ("no_heating", "jinrongjie", "暖气不热，室温只有14度"),
    ("elderly_canteen", "yibinxili", "社区附近没有老年食堂，老人吃饭难"),
    ("sewer_blocked", "huazhangli", "小区下水道堵塞，污水外溢"),
    ("neighbour_dispute", "jinrongjie", "楼上邻居深夜噪音，多次沟通无果"),
]


def _browser_available() -> str | None:
    """None when the browser tests can run here, else why not."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        return f"{CHROMIUM} not found"
    return None


@pytest.fixture
def chromium_path() -> str:
    missing = _browser_available()
    if missing:
        if os.environ.get("LASTMETER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{missing}; {HOW_TO_ENABLE}")
        pytest.skip(f"{missing}; {HOW_TO_ENABLE}")
    return str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))


@pytest.fixture
def stack(env: dict[str, str], keys: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, str]]:
    group = ServiceGroup(env=env, log_dir=tmp_path / "logs")
    ports = {name: free_port() for name in ("intake", "routing", "sla", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        extra = {
            "notify": {"LASTMETER_DASHBOARD_SLA_URL": urls["sla"]},
            # sla lets the dashboard's origin read with the session cookie (and no other origin).
            "sla": {"LASTMETER_CORS_ORIGINS": json.dumps([urls["notify"]])},
        }
        for name, port in ports.items():
            group.start(name, port=port, extra_env=extra.get(name))
        group.wait_ready(timeout=60)
        yield urls
    finally:
        group.stop_all()


@pytest.fixture
async def page(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
            yield await context.new_page()
        finally:
            await browser.close()


async def _submit(client: httpx.AsyncClient, url: str, category: str, community: str, text: str) -> str:
    resp = await client.post(
        f"{url}/v1/needs", json={"category": category, "community": community, "description": text}
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["case_id"])


async def test_street_office_sees_a_need_arrive_live_and_its_sla_state_change(
    stack: dict[str, str], keys: dict[str, Any], page: Any, kafka_bootstrap: str, prefix: str, artifacts: Path
) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    key = keys["street_offices"]["wanxing"]
    await page.goto(f"{stack['notify']}/dashboard")
    await page.wait_for_selector("#login:not([hidden])")  # the script is running and asks for a key
    await page.fill("#login-key", "not-a-key")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:has-text('密钥无效')")
    await page.screenshot(path=str(artifacts / "dashboard-login.png"))
    # By keyboard: the key field has the focus; type the key and press Enter.
    assert await page.evaluate("document.activeElement.id") == "login-key"
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#live.on", timeout=20000)
    assert await page.text_content("#street-name") == "万兴街道"
    await _assert_no_key_in_the_page(page, key)

    async with httpx.AsyncClient(timeout=10) as client:
        case_id = await _submit(client, stack["intake"], "gas_smell", "jinrongjie", "金融街1号楼道里有很浓的燃气味")
        row = f"#cases-body tr[data-case='{case_id}']"
        # It appears without a reload: the page learns of it over SSE.
        await page.wait_for_selector(row, timeout=20000)
        await page.wait_for_selector(f"#feed li[data-case='{case_id}']", timeout=20000)
        before = await page.get_attribute(f"{row} [data-sla]", "data-sla")
        assert before in ("none", "on_track")
        for category, community, text in NEEDS:
            await _submit(client, stack["intake"], category, community, text)
        # A real sla event through the broker: three quarters of the sign-for window are gone.
        warning = DeadlineWarning(
            case_id=case_id,
            kind="response",
            fraction=0.75,
            assignee=Assignee(kind="department", code="gas"),
            due_at=datetime.now(UTC) + timedelta(minutes=4),
            at=datetime.now(UTC),
        )
        event = make_event(warning, source="/test/sla", subject=case_id, time=warning.at)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(f"{prefix}sla.events", event.to_bytes(), key=case_id.encode())
        finally:
            await producer.stop()
        await page.wait_for_selector(f"{row} [data-sla='warning']", timeout=20000)
        await page.wait_for_selector(f"#feed li[data-case='{case_id}'][data-type='lastmeter.sla.warning']")
        assert int(await page.text_content("#kpi-warning") or "0") >= 1
        await page.wait_for_function(
            "() => document.querySelectorAll('#cases-body tr[data-case]').length >= 8", timeout=20000
        )
    # The other panels rendered: demand chart, supply against demand, and the rates (or a clear notice).
    await page.wait_for_selector("#demand-chart svg rect")
    await page.wait_for_selector("#supply-chart .supply-row")
    # The rates come from sla, cross-origin, with the session cookie (CORS names this origin).
    await page.wait_for_selector("#rates-body [data-rates='table'], #rates-body [data-rates='empty']")
    await asyncio.sleep(2.5)  # let the row highlight fade before the picture
    await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    # Filters are applied on the server: only the chosen SLA state remains.
    await page.select_option("#f-sla", "warning")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#cases-body [data-sla]')].every(e => e.dataset.sla === 'warning')"
    )
    await page.select_option("#f-sla", "")
    # English at a click.
    await page.click("header .lang-toggle")
    await page.wait_for_selector("#feed li .what:has-text('SLA warning')")
    assert await page.inner_text(".topbar .brand") == "▮ lastmeter · Street operations console"
    await page.screenshot(path=str(artifacts / "dashboard-en.png"), full_page=True)
    # Nothing refused by the page's Content-Security-Policy, no script errors (the refused logins log a 401).
    assert not [e for e in console_errors if "Failed to load resource" not in e], console_errors
    await _assert_no_key_in_the_page(page, key)
    # Logging out ends the session: a reload asks for the key again and the API refuses the page.
    await page.click("#logout")
    await page.wait_for_selector("#login:not([hidden])")
    await page.reload()
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.evaluate("fetch('/v1/dashboard/config').then(r => r.status)") == 401


async def _assert_no_key_in_the_page(page: Any, key: str) -> None:
    """The key is nowhere the page's scripts or a later visitor could read it."""
    stored = await page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert key not in stored
    assert "lastmeter_session" not in stored  # the session cookie is HttpOnly
    assert [k for k, _ in json.loads(stored)[0]] in ([], ["lastmeter.lang"])  # only the language, if chosen
    assert json.loads(stored)[1] == []
    assert key not in await page.content()
    assert key not in page.url
