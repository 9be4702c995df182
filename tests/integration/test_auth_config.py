"""Start-up safety: secrets and the admin password outside development; password hashing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quantdesk.core.errors import ConfigurationError
from quantdesk.core.settings import Settings
from quantdesk.services.auth import hash_password, resolve_secret_key, verify_password
from quantdesk.services.platform import bootstrap
from tests.fixtures.platform import make_settings


def test_development_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, backtest_base_dir=tmp_path / "var" / "backtest")
    first = resolve_secret_key(settings)
    path = tmp_path / "var" / "secret_key"
    assert len(first) >= 48 and path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret_key(settings) == first


@pytest.mark.parametrize("secret", [None, "", "change-me", "secret"])
def test_production_refuses_a_missing_or_placeholder_secret(
    tmp_path: Path, secret: str | None
) -> None:
    settings = Settings(_env_file=None, config_env="production", secret_key=secret,
                        backtest_base_dir=tmp_path / "b")  # fmt: skip
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        resolve_secret_key(settings)


def test_production_requires_an_admin_password(tmp_path: Path, demo_data_dir: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", demo_data_dir,
                             config_env="production")  # fmt: skip
    with pytest.raises(ConfigurationError, match="LOCAL_AUTH_PASSWORD"):
        bootstrap(settings)
    hashed = hash_password("s3cret-admin")
    ok = make_settings(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", demo_data_dir,
                       config_env="production", local_auth_password_hash=hashed)  # fmt: skip
    platform = bootstrap(ok)
    assert platform.auth.login("13800138000", "s3cret-admin", "127.0.0.1").userid == 1
    platform.close()


def test_serve_refuses_to_start_unsafely(tmp_path: Path) -> None:
    env = {**os.environ, "CONFIG_ENV": "production", "BACKTEST_BASE_DIR": str(tmp_path / "b"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}  # fmt: skip
    env.pop("SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "quantdesk.cli.main", "serve", "--port", "1"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          check=False)  # fmt: skip
    assert proc.returncode == 2
    assert "CONFIGURATION_ERROR" in proc.stderr and "SECRET_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_argon2_hashes_verify_and_reject() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "x")
