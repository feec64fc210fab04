"""What every Continuity Watch dashboard shares: datasources, template variables, status
mappings, Flux queries and the incident annotation, built with ``grafana-foundation-sdk``.

Every panel is made by :class:`Board`, which insists on a unit and a description and numbers
the panels, so the structure tests hold by construction as well as by check.

>>> prom_filter()
'sector=~"$sector", region=~"$region", operator_id=~"$operator", service_id=~"$service"'
>>> flux_filter().count("=~")
4
"""

from __future__ import annotations

import json
from typing import Any, Self

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROMETHEUS_UID = "continuity-prometheus"
INFLUX_UID = "continuity-influxdb"
PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
INFLUX = dm.DataSourceRef(type_val="influxdb", uid=INFLUX_UID)

#: Template variables on every dashboard, in the order they narrow each other.
VARIABLES = ("sector", "region", "operator", "service")
#: The Prometheus label behind each variable (``continuity_service_status`` labels).
VARIABLE_LABELS = {
    "sector": "sector",
    "region": "region",
    "operator": "operator_id",
    "service": "service_id",
}
#: The InfluxDB bucket (``database/retention`` on InfluxDB 1.8); a hidden constant.
BUCKET_VAR = "${bucket}"
DEFAULT_BUCKET = "continuity/autogen"

#: Status words and colours; severities as the sink writes them (0 up ... 4 down).
STATUS_STYLE = (
    ("up", 0, "green"),
    ("maintenance", 1, "blue"),
    ("degraded", 2, "orange"),
    ("unknown", 3, "purple"),
    ("down", 4, "red"),
)
#: Severity colours as thresholds, for panels that colour by value rather than by mapping.
STATUS_THRESHOLDS = tuple(
    (None if severity == 0 else float(severity), colour) for _word, severity, colour in STATUS_STYLE
)
DRILL_DOWN_UID = "continuity-service"


def prom_filter(*, labels: tuple[str, ...] = VARIABLES) -> str:
    """Label matchers for the chosen variables (multi-value, ``All`` is ``.*``)."""
    return ", ".join(f'{VARIABLE_LABELS[name]}=~"${name}"' for name in labels)


def key_filter(variable: str) -> str:
    """Matchers for an indicator gauge of one dimension (``dimension``/``key`` labels)."""
    return f'dimension="{variable}", key=~"${variable}"'


def flux_filter(*, labels: tuple[str, ...] = VARIABLES) -> str:
    """A Flux ``filter`` keeping the rows the variables select (``:regex`` formatting)."""
    tests = " and ".join(f"r.{VARIABLE_LABELS[name]} =~ /^${{{name}:regex}}$/" for name in labels)
    return f"|> filter(fn: (r) => {tests})"


def flux(measurement: str, fields: tuple[str, ...], *rest: str, labels: bool = True) -> str:
    """``from(bucket) |> range |> filter(measurement, fields) |> filter(variables) |> rest``."""
    field_test = " or ".join(f'r._field == "{name}"' for name in fields)
    lines = [
        f'from(bucket: "{BUCKET_VAR}")',
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)",
        f'  |> filter(fn: (r) => r._measurement == "{measurement}" and ({field_test}))',
    ]
    if labels:
        lines.append("  " + flux_filter())
    lines.extend(f"  {line}" for line in rest)
    return "\n".join(lines)


class FluxQuery(cogvariants.Dataquery):
    """An InfluxDB Flux target (the SDK has no InfluxDB query type of its own)."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self.query = query
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": INFLUX.to_json(),
            "query": self.query,
        }


class Flux(cogbuilder.Builder[FluxQuery]):
    """Builder for :class:`FluxQuery`, so Flux targets go through ``with_target`` like PromQL."""

    def __init__(self, query: str) -> None:
        self._internal = FluxQuery(query)

    def build(self) -> FluxQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self


class FluxAnnotationTarget(dm.AnnotationTarget):
    """The Flux query of an InfluxDB annotation (Grafana reads ``target.query``)."""

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query

    def to_json(self) -> dict[str, object]:
        return {"refId": "Anno", "query": self.query}


class _Target(cogbuilder.Builder[dm.AnnotationTarget]):
    def __init__(self, target: dm.AnnotationTarget) -> None:
        self._target = target

    def build(self) -> dm.AnnotationTarget:
        return self._target


def promql(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query.range()


def table_query(expr: str, ref_id: str = "A") -> prometheus.Dataquery:
    """An instant PromQL query in table format (one row per series)."""
    return (
        prometheus.Dataquery()
        .expr(expr)
        .datasource(PROMETHEUS)
        .instant()
        .format(PromQueryFormat.TABLE)
        .ref_id(ref_id)
    )


def matrix(
    row_field: str, column_field: str, value_field: str = "Value"
) -> dm.DataTransformerConfig:
    """Pivot a table: one row per ``row_field``, one column per ``column_field``."""
    return dm.DataTransformerConfig(
        id_val="groupingToMatrix",
        options={"rowField": row_field, "columnField": column_field, "valueField": value_field},
    )


def merge() -> dm.DataTransformerConfig:
    """Join the tables of several queries on their shared label columns."""
    return dm.DataTransformerConfig(id_val="merge", options={})


def organize(hidden: tuple[str, ...]) -> dm.DataTransformerConfig:
    """Hide table columns nobody needs to read (``Time``, ``__name__``, ...)."""
    return dm.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {name: True for name in hidden}}
    )


def status_mappings() -> list[dm.ValueMapping]:
    """Status words and colours for severities (0-4) and for status names."""
    options: dict[str, dm.ValueMappingResult] = {}
    for index, (word, severity, colour) in enumerate(STATUS_STYLE):
        options[str(severity)] = dm.ValueMappingResult(text=word, color=colour, index=index)
        options[word] = dm.ValueMappingResult(text=word, color=colour, index=index)
    return [dm.ValueMap(options=options)]


def med_mappings() -> list[dm.ValueMapping]:
    """Words for the Major Event Day flag (1 MED, 0 normal day, -1 T_MED undetermined)."""
    options = {
        "1": dm.ValueMappingResult(text="Major Event Day", color="red", index=0),
        "0": dm.ValueMappingResult(text="normal day", color="green", index=1),
        "-1": dm.ValueMappingResult(text="too little history", color="text", index=2),
    }
    return [dm.ValueMap(options=options)]


def thresholds(*steps: tuple[float | None, str]) -> gd.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from minus infinity)."""
    return (
        gd.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=colour) for value, colour in steps])
    )


#: Availability: red under 99 %, orange under 99.9 %, green above.
AVAILABILITY_THRESHOLDS = ((None, "red"), (0.99, "orange"), (0.999, "green"))
#: Counts of bad things: green at 0, orange from 1, red from 5.
COUNT_THRESHOLDS = ((None, "green"), (1.0, "orange"), (5.0, "red"))


def service_link() -> gd.DashboardLink:
    """Data link from any cell carrying a ``service_id`` to the service drill-down."""
    return (
        gd.DashboardLink("Open service ${__data.fields.service_id}")
        .type(dm.DashboardLinkType.LINK)
        .url(
            f"/d/{DRILL_DOWN_UID}?var-service=${{__data.fields.service_id}}"
            "&var-sector=All&var-region=All&var-operator=All&${__url_time_range}"
        )
        .target_blank(False)
        .keep_time(True)
    )


def variables() -> list[gd.QueryVariable | gd.ConstantVariable]:
    """``sector``, ``region``, ``operator``, ``service`` (each narrowed by the ones before
    it) from Prometheus, and the hidden InfluxDB ``bucket``."""
    out: list[gd.QueryVariable | gd.ConstantVariable] = []
    for position, name in enumerate(VARIABLES):
        before = VARIABLES[:position]
        selector = f"continuity_service_status{{{prom_filter(labels=before)}}}"
        out.append(
            gd.QueryVariable(name)
            .label(name.capitalize())
            .description(f"Only {name}s matching this choice ({VARIABLE_LABELS[name]} label).")
            .datasource(PROMETHEUS)
            .query({"query": f"label_values({selector}, {VARIABLE_LABELS[name]})", "refId": name})
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(dm.VariableOption(selected=True, text="All", value="$__all"))
        )
    out.append(
        gd.ConstantVariable("bucket")
        .value(DEFAULT_BUCKET)
        .description("InfluxDB bucket (database/retention policy) holding the history.")
    )
    return out


def incident_annotation() -> gd.AnnotationQuery:
    """Incident lifecycle events from InfluxDB, drawn on every time panel."""
    query = flux(
        "incident",
        ("severity",),
        "|> map(fn: (r) => ({_time: r._time, _value: r._value, "
        'title: r.event + " " + r.service_id, text: r.sector + " / " + r.region, '
        "tags: r.event}))",
    )
    return (
        gd.AnnotationQuery()
        .name("Incidents")
        .datasource(INFLUX)
        .enable(True)
        .icon_color("red")
        .target(_Target(FluxAnnotationTarget(query)))
    )


class Board:
    """A dashboard being built: every panel gets the next id, a unit and a description."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid = uid
        self._next_id = 1
        self.builder = (
            gd.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["continuity"])
            .time("now-6h", "now")
            .refresh("30s")
            .timezone("utc")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .variables(variables())  # type: ignore[arg-type]
            .annotation(incident_annotation())
            .link(
                gd.DashboardLink("Continuity Watch")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags(["continuity"])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
        )

    def row(self, title: str) -> Self:
        self.builder.with_row(gd.Row(title).id(self._take_id()))
        return self

    def add(
        self,
        panel: Any,
        *,
        unit: str,
        description: str,
        width: int = 12,
        height: int = 8,
    ) -> Self:
        """Add a panel builder (any ``grafana_foundation_sdk.builders.*.Panel``)."""
        self.builder.with_panel(
            panel.id(self._take_id()).unit(unit).description(description).span(width).height(height)
        )
        return self

    def _take_id(self) -> int:
        taken = self._next_id
        self._next_id += 1
        return taken

    def model(self) -> dict[str, Any]:
        """The Grafana JSON model as plain data."""
        loaded: dict[str, Any] = json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))
        return loaded
