"""`make compose-test`: docker-compose.yml run for real under Podman, scaled, faulted, and checked.

Builds the local images (deploy/podman/images.sh, cached), starts the project's own compose file
plus deploy/podman/compose.override.yml (only the broker, PostgreSQL and nginx images swapped)
with routing x3 and notify x2, submits numbered needs through the gateway as the admin key while
one routing container is SIGKILLed and another restarted, then checks from inside the compose
network that every need was routed once, its deadlines armed once and its events streamed once.
Prints what it measured; removes every container, the network and the volumes, also on failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.compose_stack import Compose, ComposeError
from bench.needs import need
from shared.settings import REPO_ROOT

PROJECT = "lastmeterct"
SCALE = {"routing": 3, "notify": 2}
GATEWAY = "http://127.0.0.1:8001"
NEEDS = 120
RATE = 10.0  # needs/s: the admin key's staff limit is a burst of 200, then 20/s
SETTLE = 180.0  # seconds the pipeline gets to drain after the last submission


def say(message: str) -> None:
    print(f"· {message}", flush=True)


def ports_free(ports: range) -> list[int]:
    """The gateway's host ports that something already listens on."""
    busy = []
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def quiet(args: list[str]) -> None:
    """Run a podman command, its chatter (systemd timer warnings on hosts without systemd) dropped."""
    subprocess.run(args, check=True, capture_output=True)


def crash(compose: Compose, name: str) -> None:
    """SIGKILL the container's main process from the host: a crash to the engine (`podman kill` is a stop)."""
    pid = int(compose.inspect(name)["State"]["Pid"])
    os.kill(pid, signal.SIGKILL)


async def submit(compose: Compose, admin_key: str, tag: str) -> tuple[dict[int, str], dict[str, object]]:
    """NEEDS needs at RATE/s through the gateway; kill one routing replica at 1/3, restart one at 2/3."""
    routing = compose.containers("routing")
    accepted: dict[int, str] = {}
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    faults: dict[str, object] = {}
    headers = {"authorization": f"Bearer {admin_key}"}

    async def one(client: httpx.AsyncClient, seq: int) -> None:
        started = time.perf_counter()
        try:
            reply = await client.post("/v1/needs", json=need(seq, tag=tag), headers=headers)
        except httpx.HTTPError:
            statuses[0] = statuses.get(0, 0) + 1
            return
        latencies.append(time.perf_counter() - started)
        statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
        if reply.status_code == 202:
            accepted[seq] = reply.json()["case_id"]

    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30, trust_env=False) as client:
        tasks = []
        for seq in range(NEEDS):
            if seq == NEEDS // 3:
                faults["killed"] = routing[1]
                await asyncio.to_thread(crash, compose, routing[1])
                say(f"SIGKILL to {routing[1]}'s process after {seq} needs")
            if seq == 2 * NEEDS // 3:
                faults["restarted"] = routing[2]
                await asyncio.to_thread(quiet, ["podman", "restart", "-t", "30", routing[2]])
                say(f"restarted {routing[2]} (SIGTERM, up to 30 s grace) after {seq} needs")
            tasks.append(asyncio.create_task(one(client, seq)))
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*tasks)
    latencies.sort()
    faults["statuses"] = statuses
    if latencies:
        faults["p50_ms"] = round(latencies[len(latencies) // 2] * 1000, 1)
        faults["p95_ms"] = round(latencies[int(len(latencies) * 0.95)] * 1000, 1)
    return accepted, faults


def check(compose: Compose, tag: str, accepted: dict[int, str]) -> dict[str, object]:
    """Run bench.compose_check in a container on the compose network, with the database secret."""
    with tempfile.TemporaryDirectory(prefix="lastmeter-ct-") as tmp:
        path = Path(tmp) / "accepted.json"
        path.write_text(json.dumps(accepted))
        path.chmod(0o644)
        Path(tmp).chmod(0o755)
        args = [
            "podman",
            "run",
            "--rm",
            "--network",
            compose.network,
            "--label",
            f"io.podman.compose.project={PROJECT}",
        ]
        args += ["-v", f"{REPO_ROOT / 'bench'}:/opt/check/bench:ro", "-v", f"{path}:/opt/check/accepted.json:ro"]
        args += ["-v", f"{REPO_ROOT / 'secrets' / 'database_url'}:/run/secrets/database_url:ro"]
        args += ["-e", "PYTHONPATH=/opt/check", "-e", "KAFKA_BOOTSTRAP_SERVERS=kafka:9092", "lastmeter:latest"]
        args += ["python", "-m", "bench.compose_check", tag, "/opt/check/accepted.json", str(SETTLE)]
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=SETTLE + 120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ComposeError(f"the checker printed no result (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def run() -> int:
    started = time.monotonic()
    subprocess.run(["sh", "deploy/compose-secrets.sh"], cwd=REPO_ROOT, check=True, capture_output=True)
    subprocess.run(["sh", "deploy/podman/images.sh", "all"], cwd=REPO_ROOT, check=True)
    images_s = time.monotonic() - started
    files = [REPO_ROOT / "docker-compose.yml", REPO_ROOT / "deploy" / "podman" / "compose.override.yml"]
    compose = Compose(project=PROJECT, files=files, cwd=REPO_ROOT)
    compose.down()  # leftovers of an interrupted run
    if busy := ports_free(range(8001, 8005)):
        print(f"compose-test: the gateway's ports {busy} are in use (a `make run`?); stop that first", file=sys.stderr)
        return 1
    tag = f"ct{uuid.uuid4().hex[:6]}"
    try:
        say(f"starting docker-compose.yml + {files[1].relative_to(REPO_ROOT)} with {SCALE} …")
        took = compose.up(SCALE)
        compose.await_condition("gateway", "service_healthy", timeout=120)
        up_s = time.monotonic() - started - images_s
        counts = {s: len(compose.containers(s)) for s in ("intake", "routing", "sla", "notify", "gateway")}
        started_at = ", ".join(f"{k} {v:.0f}s" for k, v in took.items())
        say(f"up in {up_s:.0f}s (services started at {started_at}); running {counts}")
        if counts["routing"] != SCALE["routing"] or counts["notify"] != SCALE["notify"]:
            raise ComposeError(f"scaled containers missing: {counts}")
        admin_key = (REPO_ROOT / "secrets" / "lastmeter_admin_key").read_text().strip()
        accepted, faults = asyncio.run(submit(compose, admin_key, tag))
        say(
            f"submitted {NEEDS} needs at {RATE:.0f}/s through the gateway: statuses {faults['statuses']}, "
            f"latency p50 {faults.get('p50_ms')} ms p95 {faults.get('p95_ms')} ms"
        )
        killed = compose.inspect(str(faults["killed"]))
        state = "running again" if killed["State"]["Running"] else "stopped"
        restarts = killed.get("RestartCount")
        say(f"{faults['killed']} after the crash: {state} (restart policy unless-stopped, {restarts} restarts)")
        result = check(compose, tag, accepted)
        say(f"invariants after {result['settled_after_s']}s: {result['line']}")
        for problem in result["problems"]:
            say(f"  {problem}")
        total = time.monotonic() - started
        ok = bool(result["ok"]) and len(accepted) == NEEDS
        if len(accepted) != NEEDS:
            say(f"FAILED: {NEEDS - len(accepted)} needs were not accepted (202)")
        say(f"compose-test {'passed' if ok else 'FAILED'} in {total:.0f}s (images {images_s:.0f}s, up {up_s:.0f}s)")
        return 0 if ok else 1
    except ComposeError as exc:
        print(f"compose-test FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        say("tearing down (containers, network, volumes) …")
        compose.down()


if __name__ == "__main__":
    raise SystemExit(run())
