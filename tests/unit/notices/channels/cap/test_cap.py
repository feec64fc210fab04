"""CAP 1.2 rendering, validated against the official OASIS XSD; the Atom feed around it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.cap.feed import ATOM_NS, FeedStore, atom_feed
from pipeline.notices.channels.cap.render import CAP_NS, cap_bytes
from pipeline.notices.channels.common import Delivery
from pipeline.notices.policy import make_test_notice
from pipeline.notices.subscriptions import Subscriber
from tests.support.notice_samples import opened_and_restored

FIXTURES = Path(__file__).parents[4] / "fixtures" / "notices"
SUBSCRIBER = Subscriber("warn", (AtomConfig(Delivery("atom")),))
NS = {"cap": CAP_NS, "atom": ATOM_NS}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(FIXTURES / "CAP-v1.2.xsd"))


def test_the_schema_accepts_a_real_alert_and_rejects_a_broken_one(
    schema: xmlschema.XMLSchema,
) -> None:
    real = (FIXTURES / "noaa_wcatwc_tsunami_warning.cap.xml").read_bytes()
    schema.validate(real.decode())
    opened, _ = opened_and_restored(SUBSCRIBER)
    broken = cap_bytes(opened).replace(b"<category>Infra", b"<category>Bogus")
    assert not schema.is_valid(broken.decode())


def test_opened_is_an_alert_and_restored_cancels_it(schema: xmlschema.XMLSchema) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER, region="UA-30")
    first = ET.fromstring(cap_bytes(opened))
    second = ET.fromstring(cap_bytes(restored))
    for alert in (first, second):
        schema.validate(ET.tostring(alert, encoding="unicode"))
        assert alert.findtext("cap:info/cap:category", namespaces=NS) == "Infra"
        assert alert.findtext("cap:info/cap:area/cap:geocode/cap:value", namespaces=NS) == "UA-30"
    assert first.findtext("cap:msgType", namespaces=NS) == "Alert"
    assessment = [
        first.findtext(f"cap:info/cap:{f}", namespaces=NS)
        for f in ("urgency", "severity", "certainty")
    ]
    assert assessment == ["Immediate", "Severe", "Observed"]
    assert second.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert second.findtext("cap:info/cap:urgency", namespaces=NS) == "Past"
    sent = first.findtext("cap:sent", namespaces=NS)
    assert second.findtext("cap:references", namespaces=NS) == (
        f"continuity-watch,{opened.notice_id},{sent}"
    )


def test_a_test_notice_has_status_test(schema: xmlschema.XMLSchema) -> None:
    alert = ET.fromstring(cap_bytes(make_test_notice(SUBSCRIBER, 1_700_000_000.0)))
    schema.validate(ET.tostring(alert, encoding="unicode"))
    assert alert.findtext("cap:status", namespaces=NS) == "Test"


def test_feed_store_survives_reopen_and_never_duplicates(
    tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER)
    store = FeedStore(tmp_path)
    assert store.append(opened, sender="continuity-watch")
    assert not store.append(opened, sender="continuity-watch")
    reopened = FeedStore(tmp_path)  # what a restarted notifier sees
    assert reopened.append(restored, sender="continuity-watch")
    assert not reopened.append(opened, sender="continuity-watch")
    feed = ET.fromstring(atom_feed("warn", "t", reopened.entries("warn"), base_url="http://x"))
    entries = feed.findall("atom:entry", NS)
    assert [e.findtext("atom:title", namespaces=NS) for e in entries] == [
        restored.title,
        opened.title,
    ]
    for entry in entries:
        alert = entry.find("atom:content/cap:alert", NS)
        assert alert is not None
        schema.validate(ET.tostring(alert, encoding="unicode"))
