"""The production profile passes Django's deployment checks (HSTS, secure cookies, SSL redirect …)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_", "DATABASE_URL"))},
        "MEDOA_ENV": "production",
        "MEDOA_SECRET_KEY": secrets.token_urlsafe(50),
        "MEDOA_ALLOWED_HOSTS": "medoa.example.org",
        "MEDOA_DATA_DIR": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, "-m", "medoa", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
