"""Start and stop service processes the way `make run` does (also used by e2e tests and bench)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DEFAULT_PORTS = {"intake": 8001, "routing": 8002, "sla": 8003, "notify": 8004}


@dataclass
class ServiceProcess:
    """One `python -m services.<name>` child."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL."""
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def terminate(self) -> None:
        """SIGTERM (graceful: drain HTTP, stop consumers, close the pool), without waiting."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: for fault injection."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(5)


@dataclass
class ServiceGroup:
    """The services of one stack; stops them all, last started first."""

    env: dict[str, str]
    log_dir: Path | None = None
    processes: list[ServiceProcess] = field(default_factory=list)

    def start(self, name: str, *, port: int | None = None, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        port = port or DEFAULT_PORTS[name]
        env = {**os.environ, **self.env, **(extra_env or {}), "LASTMETER_PORT": str(port)}
        log_path = None
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}-{port}.log"
            out = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = ServiceProcess(name=name, port=port, process=process, log_path=log_path)
        self.processes.append(proc)
        return proc

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Block until every process answers /readyz with 200, or raise naming the laggard."""
        deadline = time.monotonic() + timeout
        pending = list(self.processes)
        while pending and time.monotonic() < deadline:
            for proc in list(pending):
                if not proc.alive():
                    tail = proc.log_path.read_text(errors="replace")[-3000:] if proc.log_path else ""
                    raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}\n{tail}")
                if http_ok(f"{proc.url}/readyz"):
                    pending.remove(proc)
            time.sleep(0.1)
        if pending:
            raise TimeoutError("not ready: " + ", ".join(p.name for p in pending))

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """SIGTERM every process at once, SIGKILL what is still running after `timeout` s; returns those."""
        for proc in self.processes:
            proc.terminate()
        deadline = time.monotonic() + timeout
        killed = []
        for proc in self.processes:
            try:
                proc.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(proc.name)
                proc.kill()
        self.processes.clear()
        return killed


def http_ok(url: str, *, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except Exception:
        return False
