"""Declared maintenance windows, from a small YAML file (``CW_MAINTENANCE_FILE``).

```yaml
maintenance:
  - service_id: grid.ua-30.feeder-14
    start: 2026-11-26T10:00:00Z
    end: 2026-11-26T12:00:00Z
    reason: transformer replacement
```
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.timeutil import parse_rfc3339
from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow


def _moment(value: Any, where: str) -> float:
    if isinstance(value, datetime):  # YAML parses unquoted timestamps itself
        if value.tzinfo is None:
            raise ValueError(f"{where}: timestamp has no UTC offset")
        return value.timestamp()
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise ValueError(f"{where}: expected an RFC 3339 timestamp, got {value!r}")


def parse_calendar(text: str, source: str = "<maintenance>") -> MaintenanceCalendar:
    """Parse the YAML text; raises ValueError naming the entry and field that is wrong."""
    data = yaml.safe_load(text) or {}
    entries = data.get("maintenance", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: 'maintenance' must be a list of windows")
    windows = []
    for index, entry in enumerate(entries):
        where = f"{source}: maintenance[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("service_id"), str):
            raise ValueError(f"{where}: needs a service_id")
        windows.append(
            MaintenanceWindow(
                entry["service_id"],
                _moment(entry.get("start"), f"{where}.start"),
                _moment(entry.get("end"), f"{where}.end"),
                str(entry.get("reason", "")),
            )
        )
    return MaintenanceCalendar(windows)


def load_calendar(path: str | None) -> MaintenanceCalendar:
    """The calendar in ``path``, or an empty one when no file is configured."""
    if not path:
        return MaintenanceCalendar()
    return parse_calendar(Path(path).read_text(), path)
