"""The install scripts a new user runs: they never touch the machine's own services, and `serve` installs
once (first-hour issue)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_system_install_never_stops_or_disables_a_service() -> None:
    text = (ROOT / "scripts/install-system-deps.sh").read_text()
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    for forbidden in ("pkill", "killall", "systemctl", "service "):
        assert forbidden not in code, f"install-system-deps.sh runs {forbidden!r}"
    assert "policy-rc.d" in code and "exit 101" in code  # package installs start no service


def test_serve_installs_once() -> None:
    if not (ROOT / ".venv/.vaultlink-installed").exists():
        subprocess.run(["bash", "scripts/venv.sh"], cwd=ROOT, check=True, timeout=600)
    t0 = time.monotonic()
    p = subprocess.run(["bash", "scripts/venv.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PIP_NO_INDEX": "1"})
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 2.0, "an installed venv is not installed again"
