"""`manage.py seed_demo` gives the demo organization a few months of costs (idempotently)."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command
from django.test import Client

from accounts.models import Organization, User
from finops import services
from finops.models import Budget, CostAnomaly, CostRecord


def test_seed_demo_writes_months_of_costs_once(db, monkeypatch, capsys):
    monkeypatch.setattr(services, "today", lambda: dt.date(2026, 11, 20))
    call_command("seed_demo", password="demo-pass-123")
    first = CostRecord.objects.count()
    call_command("seed_demo", password="demo-pass-123")
    assert CostRecord.objects.count() == first > 800  # Sep 1 .. Nov 20, 5 services, 2 environments
    org = Organization.objects.get(slug="acme")
    months = set(CostRecord.objects.filter(org=org).values_list("billing_period_start", flat=True))
    assert months == {dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)}
    assert Budget.objects.filter(org=org).count() == 2
    assert CostAnomaly.objects.filter(org=org).count() == 1
    client = Client()
    client.force_login(User.objects.get(email="viewer@acme.test"))
    page = client.get("/o/acme/costs/").content.decode()
    assert "Amazon Elastic Compute Cloud - Compute" in page and "Production" in page
    assert "FinOps:" in capsys.readouterr().out
