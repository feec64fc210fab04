"""The alerting rules in deploy/prometheus: `promtool check rules` and `promtool test rules`.

promtool ships with the Debian package ``prometheus`` (deploy/local/install-system.sh); this
test fails, never skips, when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).parents[2] / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool not found: install the Debian package 'prometheus' "
            "(bash deploy/local/install-system.sh)"
        )
    return found


def test_every_rule_file_has_a_unit_test_file() -> None:
    tested = {
        line.strip().removeprefix("- ../rules/")
        for test in TESTS
        for line in test.read_text().splitlines()
        if line.strip().startswith("- ../rules/")
    }
    assert RULES, "no rule files found"
    assert {rule.name for rule in RULES} == tested


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", test_file.name],
        capture_output=True,
        text=True,
        cwd=test_file.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
