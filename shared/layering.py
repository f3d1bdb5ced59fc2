"""`python -m shared.layering`: the layering rules ruff's banned-api (TID251) cannot say, checked by AST.

TID251 bans I/O libraries outside the files whose job they are (pyproject.toml); this adds the
rest of docs/architecture.md: no service imports another, `api.py` runs no SQL, a store knows no HTTP.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from shared.settings import REPO_ROOT

SERVICES = REPO_ROOT / "services"
# File name → top-level modules it must not import, and why.
ROLE_BANS: dict[str, tuple[frozenset[str], str]] = {
    "api.py": (frozenset({"asyncpg"}), "routes call the service layer; SQL lives in store.py"),
    "store.py": (frozenset({"fastapi", "starlette"}), "a store knows no HTTP"),
}


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import in `source`; relative imports are not used in this project."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def violations(path: Path, service: str, source: str) -> Iterator[str]:
    """What `path` (a module of `service`) breaks, one message per import."""
    banned, why = ROLE_BANS.get(path.name, (frozenset(), ""))
    for line, module in imported_modules(source):
        parts = module.split(".")
        if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
            yield f"{path}:{line}: imports {module}: no service imports another (share through shared/)"
        if parts[0] in banned:
            yield f"{path}:{line}: imports {module}: {why}"


def check(root: Path = SERVICES) -> list[str]:
    """Every violation under `root` (services/<name>/**.py)."""
    found: list[str] = []
    for path in sorted(root.glob("*/**/*.py")):
        service = path.relative_to(root).parts[0]
        found += violations(
            path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path,
            service,
            path.read_text(encoding="utf-8"),
        )
    return found


def main() -> int:
    found = check()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
