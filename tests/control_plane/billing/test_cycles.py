"""Billing periods and the scheduler's automatic close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from control_plane.billing import issuing
from control_plane.billing import service as billing_service
from control_plane.jobs.models import Job
from control_plane.scheduling.ticker import Ticker
from control_plane.settings import Settings
from tests.control_plane.billing.test_close import plays, upload
from tests.control_plane.reporting.conftest import Network, make_network


def test_periods_are_calendar_months_in_utc_or_runs_of_days(tmp_path):
    monthly = Settings(data_dir=tmp_path)
    assert billing_service.period_of(monthly, datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert billing_service.period_of(monthly, datetime(2027, 2, 10, tzinfo=UTC))[1] == \
        datetime(2027, 3, 1, tzinfo=UTC)
    weekly = Settings(data_dir=tmp_path, billing_cycle="days", billing_cycle_days=7)
    start, end = billing_service.period_of(weekly, datetime(2026, 12, 6, 12, tzinfo=UTC))
    assert end - start == timedelta(days=7) and start <= datetime(2026, 12, 6, tzinfo=UTC)


def test_the_scheduler_closes_the_period_that_ended_a_grace_ago(settings, tmp_path):
    with make_network(settings, tmp_path, billing_cycle="days", billing_cycle_days=1,
                      billing_close_grace_h=0.0, run_scheduler=False) as net_:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = today - timedelta(days=1)
        upload(net_, plays(net_, yesterday + timedelta(hours=20), 40))
        context = net_.app.state.jobs.context
        with context.sessionmaker() as session:
            assert billing_service.due_period(session=session, settings=context.settings) \
                == (yesterday, today)
        issuing._close_due_job(context, {})
        [invoice] = net_.client.get("/v1/invoices",
                                    headers=net_.advertiser.headers).json()["invoices"]
        assert invoice["period_start"].startswith(yesterday.date().isoformat())
        assert invoice["lines"][0]["plays"] == 40 and invoice["status"] == "open"
        issuing._close_due_job(context, {})  # again: nothing is due, nothing more is billed
        assert len(net_.client.get("/v1/invoices", headers=net_.advertiser.headers)
                   .json()["invoices"]) == 1
        with context.sessionmaker() as session:
            assert billing_service.due_period(session=session,
                                              settings=context.settings) is None
        # the scheduler asks for the close every hour (and for the payouts)
        Ticker(context.sessionmaker, net_.app.state.jobs, interval_s=3600).tick()
        with context.sessionmaker() as session:
            kinds = set(session.scalars(select(Job.kind)))
        assert {issuing.CLOSE_DUE_JOB, "revenue.payouts_due"} <= kinds


def test_the_trace_opens_as_csv(network: Network):
    import csv
    import io
    net = network
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    upload(net, plays(net, hour - timedelta(hours=2), 25))
    span = {"period_start": (hour - timedelta(hours=3)).isoformat(),
            "period_end": (hour - timedelta(hours=1)).isoformat()}
    assert net.client.post("/v1/billing/cycles/close", headers=net.admin,
                           json=span).status_code == 200
    r = net.client.get("/v1/billing/reconciliation/trace", headers=net.admin, params=span)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["line_type"] for row in rows} == {"invoice_line", "statement_line"}
    assert len([row for row in rows if row["line_type"] == "invoice_line"]) == 25
