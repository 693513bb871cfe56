"""accounts.audit.record_events: many events appended in a constant number of queries, making the same
chains as one record_event call per event (the health sweep's chunks use it)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.actors import SYSTEM
from accounts.audit import PendingEvent, record_event, record_events, verify_chains
from accounts.models import AuditEvent, AuditHead
from tests.conftest import make_org

pytestmark = pytest.mark.django_db


def test_bulk_appends_chain_like_single_appends_across_organizations():
    fresh, used = make_org("fresh"), make_org("used")
    with transaction.atomic():
        record_event(org=used, action="connection.tested", actor=SYSTEM, details={"n": 0})
    AuditHead.objects.filter(org=fresh).delete()  # a chain with no head yet: found from its rows, as record_event does
    events = [PendingEvent(org=org, action="connection.tested", actor=SYSTEM, details={"n": i, "token": "x"})
              for i in range(1, 6) for org in (fresh, used)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        rows = record_events(events)
    assert len(queries) <= 7  # lock, heads, (a missing head's rows: 2), insert, head insert and update
    assert [e.seq for e in rows if e.org == used] == [2, 3, 4, 5, 6]
    assert [e.seq for e in rows if e.org == fresh] == [1, 2, 3, 4, 5]
    assert AuditEvent.objects.filter(org=used, seq=6).get().details == {"n": 5, "token": "[redacted]"}
    assert verify_chains()[1] == []
    with transaction.atomic():  # a single append still follows the bulk ones
        record_event(org=fresh, action="connection.tested", actor=SYSTEM)
    assert AuditHead.objects.get(org=fresh).last_seq == 6 and verify_chains()[1] == []

