"""The report as a document: HTML from the Jinja template, PDF through WeasyPrint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.publish.definitions import describe
from pipeline.publish.render import environment
from pipeline.publish.report import REPORT_WINDOW


def render_html(report: dict[str, Any]) -> str:
    """The self-contained HTML report (inline CSS and SVG, no script, no external asset)."""
    names = sorted({row["name"] for row in report["indicators"]})
    incidents = sorted(
        [*report["open_incidents"], *report["history"]], key=lambda i: i["started_at"]
    )
    return (
        environment()
        .get_template("report.html")
        .render(
            report=report,
            window=REPORT_WINDOW,
            definitions=[(name, *describe(name)) for name in names],
            incidents=incidents,
            ttr_minutes=[(label, seconds / 60.0) for label, seconds in report["restore_times"]],
        )
    )


def write_pdf(html: str, out: Path) -> Path:
    """Render ``html`` to a PDF at ``out`` (WeasyPrint; fonts from the system's fontconfig)."""
    from weasyprint import HTML

    out.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=html).write_pdf(str(out))
    return out
