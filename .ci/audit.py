"""`make audit`: pip-audit over a hashed lock, failing on any known advisory and on an audit it could not finish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# pip-audit's advisory services, tried in order: PyPI's JSON API, then OSV.
SERVICES = ("pypi", "osv")
OFFLINE_VAR = "LASTMETER_AUDIT_OFFLINE"


@dataclass
class Outcome:
    """What one pip-audit run established about a lock."""

    service: str
    vulns: list[str] = field(default_factory=list)  # one readable line per advisory
    skipped: list[str] = field(default_factory=list)  # packages the service could not answer for
    error: str = ""  # pip-audit itself failed (service unreachable, bad lock …)

    @property
    def complete(self) -> bool:
        return not self.error and not self.skipped


def read_report(service: str, report: dict[str, Any]) -> Outcome:
    """Turn pip-audit's JSON report into an outcome."""
    outcome = Outcome(service=service)
    for dep in report.get("dependencies", []):
        name = f"{dep.get('name')}=={dep.get('version', '?')}"
        if "skip_reason" in dep:
            outcome.skipped.append(f"{dep.get('name')}: {dep['skip_reason']}")
        for vuln in dep.get("vulns", []):
            aliases = ", ".join(vuln.get("aliases", []))
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            outcome.vulns.append(f"{name}: {vuln.get('id')} ({aliases}) fixed in {fixed}")
    return outcome


def run_service(lock: Path, service: str) -> Outcome:
    """Audit `lock` against one advisory service (never lets pip resolve: the lock is complete and hashed)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pip_audit", "--requirement", str(lock), "--require-hashes", "--disable-pip",
            "--vulnerability-service", service, "--format", "json", "--output", str(out),
            "--progress-spinner", "off", "--timeout", "30",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if not out.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return Outcome(service=service, error=f"pip-audit exited {proc.returncode}: {last}")
        return read_report(service, json.loads(out.read_text()))


def verdict(outcomes: list[Outcome], *, offline_ok: bool) -> tuple[int, list[str]]:
    """Exit code and message: any advisory fails; an unfinished audit fails unless offline is declared."""
    vulns = sorted({v for o in outcomes for v in o.vulns})
    if vulns:
        head = "make audit: known advisories in the lock — raise the floor in pyproject.toml, then `make lock`:"
        return 1, [head] + [f"  {v}" for v in vulns]
    done = [o for o in outcomes if o.complete]
    if done:
        return 0, [f"make audit: no known advisories ({done[0].service} advisory data)"]
    lines = ["no advisory service answered for every package:"]
    for o in outcomes:
        reason = o.error or f"{len(o.skipped)} package(s) not answered, e.g. {o.skipped[0]}"
        lines.append(f"  {o.service}: {reason}")
    if offline_ok:
        return 0, ["make audit: NOT AUDITED — " + lines[0], *lines[1:], f"  ({OFFLINE_VAR}=1 declares this accepted)"]
    return 1, [
        "make audit: FAILED — " + lines[0],
        *lines[1:],
        f"  The lock was not checked. Where no advisory service is reachable, set {OFFLINE_VAR}=1 to accept that.",
    ]


def main(argv: list[str]) -> int:
    locks = [Path(a) for a in argv] or [Path("requirements/prod.txt")]
    worst = 0
    for lock in locks:
        outcomes: list[Outcome] = []
        for service in SERVICES:
            outcomes.append(run_service(lock, service))
            if outcomes[-1].complete:
                break
        code, lines = verdict(outcomes, offline_ok=os.environ.get(OFFLINE_VAR) == "1")
        print(f"{lock}: " + "\n".join(lines), file=sys.stderr if code else sys.stdout)
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
