"""What each indicator means and which standard defines it, for reports.

>>> describe("ttr_p90_s")[1]
'Time to restore, 90th percentile, seconds'
"""

from __future__ import annotations

_BASE: dict[str, tuple[str, str]] = {
    "availability_incl_maintenance": (
        "ITU-T E.800",
        "Up time / (up + down time) over the window, outages in maintenance counted as down",
    ),
    "availability_excl_maintenance": (
        "ITU-T E.800",
        "Up time / (up + down time) over the window, declared maintenance excluded",
    ),
    "downtime_s": ("-", "Service-seconds down in the window (outside maintenance)"),
    "maintenance_downtime_s": ("-", "Service-seconds down inside declared maintenance windows"),
    "incidents_per_30d": ("-", "Incidents per service per 30 days"),
    "open_incidents": ("-", "Incidents open at the end of the window"),
    "saifi": ("IEEE 1366", "Sum of customers interrupted / customers served"),
    "saidi_min": ("IEEE 1366", "Sum of customer-minutes interrupted / customers served"),
    "caidi_min": ("IEEE 1366", "SAIDI / SAIFI: minutes per interruption"),
    "asai": ("IEEE 1366", "Customer-hours available / customer-hours demanded"),
    "maifi": ("IEEE 1366", "Momentary (5 min or shorter) interruptions per customer served"),
    "nors_user_minutes": ("FCC NORS (47 CFR 4)", "Users affected x outage minutes"),
    "nors_reportable_outages": (
        "FCC NORS (47 CFR 4)",
        "Outages of 30 min or more reaching 900 000 user-minutes",
    ),
    "no_service_minutes": ("GTFS-Realtime", "Minutes of NO_SERVICE alerts"),
    "reduced_service_minutes": ("GTFS-Realtime", "Minutes of REDUCED_SERVICE alerts"),
}
_TIMES = {
    "ttd": "Time to detect (detected - started)",
    "ttr": "Time to restore (restored - detected)",
}
_STATS = {"mean": "mean", "p50": "median", "p90": "90th percentile"}


def describe(name: str) -> tuple[str, str]:
    """(standard, definition) of an indicator name; unknown names say so."""
    if name in _BASE:
        return _BASE[name]
    prefix, _, rest = name.partition("_")
    if prefix in _TIMES:
        if rest == "count":
            return "-", f"{_TIMES[prefix].split(' (')[0]}: incidents timed"
        stat = rest.removesuffix("_s")
        if stat in _STATS:
            return "-", f"{_TIMES[prefix].split(' (')[0]}, {_STATS[stat]}, seconds"
    return "-", "(no definition recorded)"
