"""A notice as an e-mail: plain text plus an HTML alternative; Message-ID from the notice id.

>>> from pipeline.notices.notice import Notice
>>> m = render_email(Notice("n-1", "cert", "test", 0.0, ()), "a@x.org", ("b@y.org",))
>>> m["Message-ID"], m.get_content_type()
('<n-1@continuity-watch>', 'multipart/alternative')
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate

from pipeline.notices.notice import Notice


def render_email(notice: Notice, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[Continuity Watch] {notice.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(notice.created_at, usegmt=True)
    # Mail clients thread and de-duplicate on Message-ID: the notice id makes both work.
    message["Message-ID"] = f"<{notice.notice_id}@continuity-watch>"
    message["X-Continuity-Notice-Id"] = notice.notice_id
    message.set_content(notice.text())
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell)}</td>"
            for cell in (
                item.kind,
                ", ".join(item.services or item.operators),
                ", ".join(item.regions),
                item.severity,
                item.describe(),
            )
        )
        + "</tr>"
        for item in notice.items
    )
    message.add_alternative(
        f"<html><body><h2>{html.escape(notice.title)}</h2>"
        "<table><tr><th>kind</th><th>services</th><th>regions</th><th>severity</th>"
        f"<th>what</th></tr>{rows}</table>"
        f"<p><small>notice {html.escape(notice.notice_id)}</small></p></body></html>",
        subtype="html",
    )
    return message
