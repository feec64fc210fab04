"""The local demo's command key: made once, owner-only, the same on every call."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipeline.ops.localstack import demo_command_key


def test_the_demo_key_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_STATE", str(tmp_path))
    key, path = demo_command_key()
    assert path == tmp_path / "demo" / "command.key"
    assert len(bytes.fromhex(key)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_command_key() == (key, path)
