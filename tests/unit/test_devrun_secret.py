"""`make run` makes its own token secret once, keeps it private under .lastmeter/, and reuses it."""

from __future__ import annotations

import stat
from pathlib import Path

from shared.devrun import SECRET_FILE, dev_token_secret
from shared.settings import ServiceSettings, secret_problem


def test_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = dev_token_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert secret_problem(first) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_token_secret(tmp_path) == first
    # Good enough for any environment, not only dev on loopback.
    assert ServiceSettings(env="prod", host="0.0.0.0", token_secret=first).token_secret.get_secret_value() == first


def test_a_weak_or_exposed_file_is_fixed(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    path.write_text("short\n")
    replaced = dev_token_secret(tmp_path)
    assert replaced != "short"
    assert secret_problem(replaced) is None
    path.chmod(0o644)
    assert dev_token_secret(tmp_path) == replaced
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
