"""The shipped unit file: `systemd-analyze verify` passes and `systemd-analyze security` rates it ≤ 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "publisher.service"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def _copy(tmp_path: Path) -> Path:
    # verify checks that ExecStart's binary exists: point it at one that surely does.
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/usr/bin/env publisher --config /etc/publisher/publisher.toml run$", text, re.M)
    env = shutil.which("env") or "/usr/bin/env"
    unit = tmp_path / "publisher.service"
    unit.write_text(text.replace("ExecStart=/usr/bin/env ", f"ExecStart={env} "), encoding="utf-8")
    return unit


def test_unit_verifies(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(_copy(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "publisher.service" not in result.stderr, result.stderr


def test_unit_exposure_at_most_2(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", str(_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for publisher\.service:\s*([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_essentials() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "StateDirectory=publisher",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "SystemCallFilter=@system-service",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    stop = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M)
    from publisher.service.daemon import STOP_GRACE_SECONDS

    assert stop and int(stop.group(1)) > STOP_GRACE_SECONDS
