"""A tiny run of ``continuity ledger bench`` so the measurement cannot rot (no speed gate)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench


def test_ledger_bench_small_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "ledger", "bench", "--entries", "3000",
         "--workdir", str(tmp_path / "work"), "--samples", "20", "--bundle-entries", "500",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["append"]["entries_per_s"] > 0
    assert result["proofs"]["tree_size"] == 3000
    # O(log n): an inclusion proof at 3000 entries reads at most ~2 log2(n) stored nodes
    assert 0 < result["proofs"]["inclusion_node_reads_max"] <= 2 * 12
    assert result["proofs_small"]["tree_size"] == 3
    assert result["bundle"]["entries"] == 500
    assert result["storage"]["log_bytes_per_entry"] > result["storage"]["leaf_bytes_mean"]
