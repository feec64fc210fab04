"""``KpiAnomalyDetector.to_dict``: the parameters' dict is built once, the record is unchanged."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import orjson

from pipeline.detection.kpi import KpiAnomalyDetector, KpiParams


def expected_record(det: KpiAnomalyDetector) -> dict[str, Any]:
    """The record as it was built before the parameters were remembered."""
    level = det._level
    return {
        "params": asdict(det.params),
        "level": None if math.isnan(level) else level,
        "sigma": det._sigma,
        "n": det._n,
        "run_n": det._run_n,
        "run_sum": det._run_sum,
        "daily": list(det._daily),
        "weekly": list(det._weekly),
        "amp": det._amp,
        "hist": list(det._hist),
        "hist_w": det._hist_w,
        "hist_total": det._hist_total,
        "episode": det._episode,
    }


def test_records_match_the_rebuilt_form_byte_for_byte() -> None:
    det = KpiAnomalyDetector(KpiParams(day_bins=24, warmup=5))
    assert orjson.dumps(det.to_dict()) == orjson.dumps(expected_record(det))
    for step in range(300):
        det.score(1_700_000_000 + step * 900.0, 100.0 + (step % 17) * 3.0 + (step == 250) * 500)
        record = det.to_dict()
        assert list(record) == list(expected_record(det))
        assert orjson.dumps(record) == orjson.dumps(expected_record(det))
    restored = KpiAnomalyDetector.from_dict(orjson.loads(orjson.dumps(det.to_dict())))
    assert orjson.dumps(restored.to_dict()) == orjson.dumps(det.to_dict())


def test_a_record_is_independent_and_follows_replaced_params() -> None:
    det = KpiAnomalyDetector()
    first = det.to_dict()
    first["params"]["warmup"] = -1  # a caller editing its record changes no later record
    assert det.to_dict()["params"] == asdict(KpiParams())
    det.params = KpiParams(warmup=7)
    assert det.to_dict()["params"] == asdict(KpiParams(warmup=7))
