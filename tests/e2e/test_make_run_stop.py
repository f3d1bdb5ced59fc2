"""`make run` stops cleanly: after traffic, with an SSE client connected, on SIGTERM or Ctrl-C, in <= 10 s.

Starts `lastmeter run` (what `make run` runs) as a real process group with its own home, free ports
and its own broker, signals the whole group the way a terminal or a supervisor does, and checks that
every process it started (orchestrator, the four services, broker, PostgreSQL) is gone and nothing
listens on its ports any more.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from shared.devstack import free_port
from shared.provision import SERVICES
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.e2e

LASTMETER = Path(sys.executable).with_name("lastmeter")
STOP_LIMIT = 10.0


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    home: Path
    ports: dict[str, int]
    output: Path

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start(home: Path, env_overrides: dict[str, str], drop: tuple[str, ...]) -> RunningStack:
    ports = {name: free_port() for name in (*SERVICES, "broker")}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("LASTMETER_")}
    env.update(
        {
            "LASTMETER_HOME": str(home),
            "LASTMETER_BROKER_PORT": str(ports["broker"]),
            **{f"LASTMETER_{name.upper()}_PORT": str(ports[name]) for name in SERVICES},
            **env_overrides,
        }
    )
    output = home / "run.out"
    home.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as out:
        # Its own session, so the signals below reach its process group and never pytest's.
        process = subprocess.Popen(
            [str(LASTMETER), "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningStack(process=process, home=home, ports=ports, output=output)


def _wait_up(stack: RunningStack, timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while "lastmeter is up" not in stack.text():
        if stack.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"`lastmeter run` did not come up:\n{stack.text()[-4000:]}")
        time.sleep(0.3)


def _started_pids(stack: RunningStack) -> dict[str, int]:
    """Every process the stack consists of: the orchestrator, its services, the broker, the postmaster."""
    pids = {"orchestrator": stack.process.pid}
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        cmd = " ".join(child.cmdline())
        for name in SERVICES:
            if f"services.{name}" in cmd:
                pids[name] = child.pid
        if "tansu" in cmd and "broker" in cmd:
            pids["broker"] = child.pid
    postmaster = stack.home / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pids["postgres"] = int(postmaster.read_text().split()[0])
    return pids


async def _traffic_and_stream(stack: RunningStack) -> asyncio.Task[None]:
    """Submit a need and keep an SSE client connected that has seen its event; returns the reader."""
    admin = json.loads((stack.home / "demo-keys.json").read_text())["admin"]
    intake = f"http://127.0.0.1:{stack.ports['intake']}"
    notify = f"http://127.0.0.1:{stack.ports['notify']}"
    seen = asyncio.Event()
    case_id: list[str] = []

    async def read_stream() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream(
                "GET", f"{notify}/v1/stream?last_event_id=0", headers={"Authorization": f"Bearer {admin}"}
            ) as resp,
        ):
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if case_id and line.startswith("data: ") and json.loads(line[6:]).get("subject") == case_id[0]:
                    seen.set()

    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{intake}/v1/needs",
            json={"category": "street_light_out", "description": "金融街3号楼前路灯不亮了", "community": "jinrongjie"},
        )
        assert resp.status_code == 202, resp.text
        case_id.append(resp.json()["case_id"])
    reader = asyncio.create_task(read_stream())
    done, _ = await asyncio.wait({reader, asyncio.create_task(seen.wait())}, timeout=30, return_when="FIRST_COMPLETED")
    assert seen.is_set(), f"the SSE client never saw the need ({reader.exception() if reader in done else 'timeout'})"
    return reader


def _stop_and_check(stack: RunningStack, sig: signal.Signals, *, forwarded_again: bool) -> None:
    pids = _started_pids(stack)
    assert set(pids) >= {"orchestrator", *SERVICES, "broker"}, pids
    group = os.getpgid(stack.process.pid)
    for name in ("broker", "postgres"):
        if name in pids:  # the orchestrator, not the terminal's signal, decides when these stop
            assert os.getpgid(pids[name]) != group, f"{name} shares the orchestrator's process group"
    ports = dict(stack.ports)
    started = time.monotonic()
    os.killpg(group, sig)
    if forwarded_again:
        # What `make run` does on SIGTERM: make forwards it to its child on top of the group's own.
        time.sleep(0.3)
        os.kill(stack.process.pid, sig)
    try:
        stack.process.wait(STOP_LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`lastmeter run` still running {STOP_LIMIT}s after {sig.name}:\n{stack.text()[-3000:]}")
    left = {name: pid for name, pid in pids.items() if _alive(pid)}
    listening = {name: port for name, port in ports.items() if _listening(port)}
    took = time.monotonic() - started
    assert not left, f"still running after {sig.name}: {left}"
    assert not listening, f"still listening after {sig.name}: {listening}"
    assert took <= STOP_LIMIT, f"stopping took {took:.1f}s"
    assert stack.process.returncode == 0, stack.text()[-3000:]
    out = stack.text()
    assert out.index("· stopping") < out.index("· stopped."), out[-2000:]
    assert "did not stop" not in out, "a service had to be killed:\n" + out[-2000:]


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's basetemp (pruned while in use); embedded PostgreSQL keeps its data here.
    path = Path(tempfile.mkdtemp(prefix="lastmeter-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _run_case(home: Path, sig: signal.Signals, env: dict[str, str], drop: tuple[str, ...], again: bool) -> None:
    stack = _start(home, env, drop)
    pids: dict[str, int] = {}
    reader: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(_wait_up, stack)
        pids = _started_pids(stack)
        reader = await _traffic_and_stream(stack)
        await asyncio.to_thread(_stop_and_check, stack, sig, forwarded_again=again)
    finally:
        if reader:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        for pid in pids.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait(5)


async def test_sigterm_to_the_process_group_stops_everything_embedded_postgres_last(home: Path) -> None:
    """The reported case: embedded PostgreSQL, SIGTERM to the group, and make's forwarded second SIGTERM."""
    await _run_case(home, signal.SIGTERM, {}, ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"), again=True)


async def test_ctrl_c_stops_everything(home: Path, database_url: str) -> None:
    """Ctrl-C (SIGINT to the foreground group), against the test PostgreSQL under a fresh schema prefix."""
    prefix = f"r{uuid.uuid4().hex[:10]}_"
    env = {"DATABASE_URL": database_url, "LASTMETER_SCHEMA_PREFIX": prefix, "LASTMETER_TOPIC_PREFIX": prefix}
    try:
        await _run_case(home, signal.SIGINT, env, ("KAFKA_BOOTSTRAP_SERVERS",), again=False)
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            for name in (*SERVICES, "auth"):
                await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}{name} CASCADE")
        finally:
            await conn.close()
