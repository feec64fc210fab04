"""The CW_* reference is generated, complete and current; Settings reads exactly those."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.config.reference import DOC_PATH, render
from pipeline.config.settings import Settings, SettingsError
from pipeline.config.variables import ALL, SETTINGS

REPO = Path(__file__).resolve().parents[2]
_READ = re.compile(r"\bCW_[A-Z0-9_]+\b")


def _names_in_code() -> set[str]:
    """Every CW_ name the code, scripts and Makefile mention (tests and docs aside)."""
    files = [*REPO.glob("pipeline/**/*.py"), *REPO.glob("connectors/**/*.py")]
    files += [*REPO.glob("deploy/**/*.sh"), REPO / "Makefile"]
    return {name for path in files for name in _READ.findall(path.read_text(encoding="utf-8"))}


def test_the_committed_reference_is_current() -> None:
    assert (REPO / DOC_PATH).read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale; run: continuity settings docs"
    )


def test_every_cw_variable_in_the_code_is_documented() -> None:
    documented = {v.name for v in ALL}
    assert _names_in_code() - documented == set()
    for name in documented:
        assert f"`{name}`" in render()


def test_every_setting_is_read_from_one_variable() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert sorted(v.field for v in SETTINGS if v.field) == sorted(fields)


def test_the_variables_set_the_settings() -> None:
    env = {
        "CW_KAFKA_PORT": "29092",
        "CW_TOPIC_PREFIX": "t1.",
        "CW_PARTITIONS": "3",
        "CW_BATCH_WITHIN_S": "0.5",
        "CW_MAINTENANCE_FILE": "",
        "CW_INGEST_PORT": "0",
    }
    settings = Settings.from_env(env)
    assert settings.kafka_bootstrap == "127.0.0.1:29092"
    assert settings.topics.deadletter == "t1.deadletter"
    assert (settings.partitions, settings.batch_within) == (3, 0.5)
    assert (settings.maintenance_file, settings.ingest_port) == (None, 0)
    assert Settings.from_env({}) == Settings()


def test_the_processing_guarantee_is_a_choice() -> None:
    assert Settings.from_env({}).exactly_once
    assert not Settings.from_env({"CW_PROCESSING_GUARANTEE": "at_least_once"}).exactly_once
    built_in_code = dataclasses.replace(Settings(), processing_guarantee="exactly-once")
    with pytest.raises(SettingsError, match="CW_PROCESSING_GUARANTEE='exactly-once'"):
        _ = built_in_code.exactly_once


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CW_PARTITIONS": "six"}, "CW_PARTITIONS='six': must be a whole number"),
        ({"CW_LATENESS_S": "-1"}, "CW_LATENESS_S='-1': must be greater than 0"),
        ({"CW_BATCH_WITHIN_S": "soon"}, "CW_BATCH_WITHIN_S='soon': must be a number of seconds"),
        (
            {"CW_PROCESSING_GUARANTEE": "once"},
            "CW_PROCESSING_GUARANTEE='once': must be exactly_once or at_least_once",
        ),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)
    result = CliRunner().invoke(main, ["settings", "show"], env=env)
    assert result.exit_code == 1
    assert message in result.output


def test_settings_docs_check_says_when_the_file_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    stale = CliRunner().invoke(main, ["settings", "docs", "--check", "--out", str(out)])
    assert stale.exit_code == 1
    assert "is stale; run: continuity settings docs" in stale.output
    runner = CliRunner()
    assert runner.invoke(main, ["settings", "docs", "--out", str(out)]).exit_code == 0
    assert runner.invoke(main, ["settings", "docs", "--check", "--out", str(out)]).exit_code == 0
