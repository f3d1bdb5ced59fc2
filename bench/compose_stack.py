"""docker-compose.yml under podman-compose, its depends_on conditions enforced on any Podman.

podman-compose ignores `service_healthy` on Podman < 4.6 (Debian bookworm ships 4.3), and Podman
schedules health checks through systemd timers, which a machine without systemd lacks. So the
services are started in the order of the file's depends_on, and before each one its conditions
are awaited here: `service_healthy` by running the file's own health check (`podman healthcheck
run`) on its interval, `service_completed_successfully` by the container's exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HEALTH_POLL = 2.0  # seconds between health checks while waiting (the file says 5-10 s)


class ComposeError(RuntimeError):
    """A container did not reach the state its dependants need."""


def _run(args: list[str], *, check: bool = True, capture: bool = True, timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=capture, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()[-2000:] if capture else ""
        raise ComposeError(f"{' '.join(args[:6])} … exited {done.returncode}: {detail}")
    return done.stdout or ""


def start_order(services: dict[str, dict]) -> list[str]:
    """Services in an order where every one comes after what it depends on (pure)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in path:
            raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*path, name))
        seen.add(name)
        order.append(name)

    for name in services:
        visit(name, ())
    return order


def conditions(service: dict) -> dict[str, str]:
    """depends_on as {service: condition}, the short list form meaning service_started (pure)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


@dataclass
class Compose:
    """One compose project: the user's file plus overrides, under podman-compose."""

    project: str
    files: list[Path]
    cwd: Path
    log: list[str] = field(default_factory=list)
    _config: dict | None = None

    def _base(self) -> list[str]:
        cmd = [sys.executable, "-m", "podman_compose", "-p", self.project]
        for f in self.files:
            cmd += ["-f", str(f)]
        return cmd

    def compose(self, *args: str, timeout: float = 600) -> str:
        self.log.append(" ".join(args))
        return _run([*self._base(), *args], timeout=timeout)

    @property
    def config(self) -> dict:
        """The merged configuration, as podman-compose reads it."""
        if self._config is None:
            self._config = yaml.safe_load(_run([*self._base(), "config"]))
        return self._config

    @property
    def network(self) -> str:
        return f"{self.project}_default"

    def containers(self, service: str | None = None, *, all_states: bool = False) -> list[str]:
        """This project's container names (of one service), running ones unless `all_states`."""
        args = ["podman", "ps", "--format", "{{.Names}}", "--filter", f"label=io.podman.compose.project={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if all_states:
            args.append("-a")
        return sorted(_run(args).split())

    def inspect(self, name: str) -> dict:
        return json.loads(_run(["podman", "inspect", name]))[0]

    def up(self, scale: dict[str, int], *, timeout: float = 300) -> dict[str, float]:
        """Start every service in depends_on order, awaiting each condition; seconds until each was up."""
        services = self.config["services"]
        started = time.monotonic()
        took: dict[str, float] = {}
        for name in start_order(services):
            for dep, condition in conditions(services[name]).items():
                self.await_condition(dep, condition, timeout=timeout)
            args = ["up", "-d", "--no-deps"]
            if scale.get(name, 1) != 1:
                args += ["--scale", f"{name}={scale[name]}"]
            self.compose(*args, name)
            took[name] = time.monotonic() - started
        return took

    def await_condition(self, service: str, condition: str, *, timeout: float) -> None:
        """Block until every container of `service` meets a depends_on condition."""
        deadline = time.monotonic() + timeout
        names = self.containers(service, all_states=True)
        if not names:
            raise ComposeError(f"{service}: no container")
        for name in names:
            if condition == "service_completed_successfully":
                code = _run(["podman", "wait", name], timeout=max(1.0, deadline - time.monotonic())).strip()
                if code != "0":
                    raise ComposeError(f"{name} exited {code}:\n{self.logs(name)}")
            elif condition == "service_healthy":
                self.await_healthy(name, deadline)

    def await_healthy(self, name: str, deadline: float) -> None:
        """Run the container's own health check until it passes (or the container stops)."""
        while True:
            if not self.inspect(name)["State"]["Running"]:
                raise ComposeError(f"{name} stopped before it was healthy:\n{self.logs(name)}")
            if subprocess.run(["podman", "healthcheck", "run", name], capture_output=True, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ComposeError(f"{name} not healthy in time:\n{self.logs(name)}")
            time.sleep(HEALTH_POLL)

    def logs(self, name: str, tail: int = 30) -> str:
        done = subprocess.run(
            ["podman", "logs", "--tail", str(tail), name], capture_output=True, text=True, check=False
        )
        return (done.stdout + done.stderr).strip()

    def down(self) -> None:
        """Remove the project's containers, network and volumes, whatever state they are in."""
        subprocess.run([*self._base(), "down", "--volumes", "-t", "5"], capture_output=True, check=False, timeout=300)
        for name in self.containers(all_states=True):
            subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True, check=False)
        subprocess.run(["podman", "network", "rm", "-f", self.network], capture_output=True, check=False)
        volumes = _run(["podman", "volume", "ls", "-q", "--filter", f"label=io.podman.compose.project={self.project}"])
        for volume in volumes.split():
            subprocess.run(["podman", "volume", "rm", "-f", volume], capture_output=True, check=False)
