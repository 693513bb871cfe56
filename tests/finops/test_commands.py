"""`manage.py sync_costs`: the same service as the page and the beat, from a shell."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command

from finops.models import CostRecord, SyncJob
from tests.connections.conftest import create_connection
from tests.fakes import moto_server as moto_fakes
from tests.finops.conftest import aws_connection, ce_period, seed_ce

moto_server = moto_fakes.moto_server
moto = moto_fakes.moto


def test_sync_costs_backfills_a_connection(org, members, moto):
    requests.post(f"{moto}/moto-api/reset", timeout=5)
    connection = aws_connection(org)
    create_connection(org, "github")  # no cost source: not synced by default
    seed_ce(moto, [ce_period(dt.date(2026, 11, 1), [("AWS Lambda", "production", "2.50")])])
    out = StringIO()
    call_command("sync_costs", org=org.slug, start="2026-11-01", end="2026-11-01", stdout=out)
    assert "aws-billing: succeeded, 1 rows" in out.getvalue()
    assert CostRecord.objects.filter(connection=connection).count() == 1
    assert SyncJob.objects.count() == 1


def test_sync_costs_reports_bad_input(org, members):
    with pytest.raises(CommandError, match="No organization"):
        call_command("sync_costs", org="nope")
    aws_connection(org)
    with pytest.raises(CommandError, match="start: Enter a date"):
        call_command("sync_costs", org=org.slug, start="yesterday", stdout=StringIO())
