"""`adsbin billing close`, `adsbin billing reconcile` and `adsbin payouts run`, run as an
operator would, on plays uploaded through the API, on both databases.

Most steps run the CLI's own command tree in this process (`run`): the same commands, options,
settings from the environment, output and exit codes, without a new Python that imports the
whole app for each step. One step of a test per database runs the installed `adsbin` script as a
process of its own (`run_process`), so the console script itself stays tested end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from rich.console import Console
from typer.testing import CliRunner

from control_plane import cli
from control_plane.settings import get_settings
from tests.control_plane.billing.test_close import hour_floor, plays, upload
from tests.control_plane.reporting.conftest import Network, network

__all__ = ["network"]  # the fixture, for `net`
ADSBIN = str(Path(sys.executable).parent / "adsbin")


@pytest.fixture
def net(network: Network) -> Network:
    """The reporting tests' network (on each database)."""
    return network


def env_of(net: Network) -> dict[str, str]:
    settings = net.app.state.settings
    return {**os.environ, "ADSBIN_DATA_DIR": str(settings.data_dir),
            "ADSBIN_DATABASE_URL": settings.database_url, "ADSBIN_RUN_BROKER": "false",
            "ADSBIN_RUN_WORKER": "false", "ADSBIN_PUBLIC_URL": "http://testserver",
            "NO_COLOR": "1", "COLUMNS": "200"}


def run_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`adsbin ARGS` as a process of its own, on `env`."""
    return subprocess.run([ADSBIN, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@contextmanager
def _cli_apps() -> Iterator[list[Any]]:
    """The apps the money commands build while inside, their engines disposed afterwards (a
    process of its own would let them go on exit)."""
    apps: list[Any] = []
    money_app = cli._money_app

    def recording() -> tuple[Any, Any]:
        settings, app_ = money_app()
        apps.append(app_)
        return settings, app_

    try:
        with mock.patch.object(cli, "_money_app", recording):
            yield apps
    finally:
        for app_ in apps:
            app_.state.engine.dispose()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`adsbin ARGS` on `env`, run by the CLI's command tree in this process: what the console
    script runs, with the environment it reads its settings from for the time of the call, and
    consoles as wide as `COLUMNS` says, as a process's would be."""
    changed = {k: v for k, v in env.items() if os.environ.get(k) != v}
    changed.update({k: None for k in os.environ if k.startswith("ADSBIN_") and k not in env})
    width = int(env.get("COLUMNS", "80"))
    get_settings.cache_clear()
    try:
        with _cli_apps(), mock.patch.object(cli, "console", Console(width=width)), \
                mock.patch.object(cli, "err", Console(stderr=True, width=width)):
            result = CliRunner().invoke(cli.app, list(args), env=changed,
                                        catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    return subprocess.CompletedProcess([ADSBIN, *args], result.exit_code, result.stdout,
                                       result.stderr)


def period(start: datetime, end: datetime) -> list[str]:
    return ["--period-start", start.isoformat(), "--period-end", end.isoformat()]


def invoices(net: Network) -> list[dict[str, Any]]:
    return list(net.client.get("/v1/invoices", headers=net.advertiser.headers)
                .json()["invoices"])


def test_close_issues_the_invoices_once_and_reconcile_traces_them(net: Network, tmp_path: Path):
    env = env_of(net)
    now_hour = hour_floor(datetime.now(UTC))
    p1 = (now_hour - timedelta(hours=3), now_hour - timedelta(hours=2))
    upload(net, plays(net, p1[0] + timedelta(minutes=1), 120))

    r = run_process(env, "billing", "close", *period(*p1))
    assert r.returncode == 0, r.stderr
    assert "closed" in r.stdout and "already" not in r.stdout
    # 120 plays × 2.5 impressions at 10.00 CPM: 3.00
    assert "3.00 EUR" in r.stdout and "120" in r.stdout
    assert "is closed" in r.stdout
    [invoice] = invoices(net)
    assert invoice["status"] == "open" and invoice["amount_cents"] == 300

    again = run(env, "billing", "close", *period(*p1))
    assert again.returncode == 0, again.stderr
    assert "already closed" in again.stdout
    assert [i["id"] for i in invoices(net)] == [invoice["id"]]  # nothing billed twice

    out = tmp_path / "trace.csv"
    r = run(env, "billing", "reconcile", *period(*p1), "--trace", str(out))
    assert r.returncode == 0, r.stderr
    assert "EUR" in r.stdout and "3.00 EUR" in r.stdout and "0.00 EUR" in r.stdout
    assert "240 rows written" in r.stdout
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    billed = [row for row in rows if row["line_type"] == "invoice_line"]
    assert len(billed) == 120 and sum(int(row["spend_cents"]) for row in billed) == 300
    assert {row["play_id"] for row in rows if row["line_type"] == "statement_line"} \
        == {row["play_id"] for row in billed}

    out = tmp_path / "trace.ndjson"
    r = run(env, "billing", "reconcile", *period(*p1), "--trace", str(out))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 240 and lines[0]["invoice_id"] == invoice["id"]

    # periods close in order: the last full month lies before the hour closed
    r = run(env, "billing", "close")
    assert r.returncode == 1
    assert "in order" in r.stderr and "next:" in r.stderr


def test_bad_options_say_what_to_do(net: Network, tmp_path: Path):
    env = env_of(net)
    now_hour = hour_floor(datetime.now(UTC))
    r = run(env, "billing", "close", "--period-start", now_hour.isoformat())
    assert r.returncode == 1 and "--period-end" in r.stderr and "RFC 3339" in r.stderr
    r = run(env, "billing", "close", *period(now_hour, now_hour + timedelta(hours=1)))
    assert r.returncode == 1 and "not over" in r.stderr and "next:" in r.stderr
    r = run(env, "billing", "close", "--period-start", "2026-11-01T00:00:00",
            "--period-end", "2026-12-01T00:00:00Z")
    assert r.returncode == 1 and "no time zone" in r.stderr
    r = run(env, "billing", "close", "--period-start", "yesterday",
            "--period-end", "2026-12-01T00:00:00Z")
    assert r.returncode == 1 and "not a date and time" in r.stderr
    r = run(env, "billing", "reconcile", *period(now_hour - timedelta(hours=2), now_hour),
            "--trace", str(tmp_path / "trace.txt"))
    assert r.returncode == 1 and "FILE.csv or FILE.ndjson" in r.stderr
    r = run(env, "billing", "reconcile", *period(now_hour - timedelta(hours=2), now_hour))
    assert r.returncode == 0 and "nothing to reconcile" in r.stdout
    assert invoices(net) == []


def test_money_commands_before_migrating_say_what_to_do(tmp_path: Path):
    env = {**os.environ, "ADSBIN_DATA_DIR": str(tmp_path / "var"),
           "ADSBIN_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "NO_COLOR": "1"}
    for args in (("billing", "close"), ("billing", "reconcile", "--period-start",
                                        "2026-11-01T00:00:00Z", "--period-end",
                                        "2026-12-01T00:00:00Z")):
        r = run_process(env, *args) if args == ("billing", "close") else run(env, *args)
        assert r.returncode == 1 and "adsbin migrate" in r.stderr


def test_payouts_run_pays_a_closed_paid_period_once(net: Network):
    env = {**env_of(net), "ADSBIN_PAYOUT_MINIMUM_CENTS": "0"}
    now_hour = hour_floor(datetime.now(UTC))
    p1 = (now_hour - timedelta(hours=3), now_hour - timedelta(hours=2))
    r = run(env, "payouts", "run", *period(*p1))
    assert r.returncode == 1 and "adsbin billing close" in r.stderr

    upload(net, plays(net, p1[0] + timedelta(minutes=1), 120))
    assert run(env, "billing", "close", *period(*p1)).returncode == 0
    [invoice] = invoices(net)
    r = net.client.post(f"/v1/invoices/{invoice['id']}/mark-paid", headers=net.admin)
    assert r.status_code == 200, r.text
    r = net.client.post("/v1/payouts/onboarding-link", headers=net.venue_owner.headers)
    assert r.status_code == 200, r.text

    r = run(env, "payouts", "run", *period(*p1))
    assert r.returncode == 0, r.stderr
    assert "1 payout(s)" in r.stdout
    assert "1.80 EUR" in r.stdout  # the venue's 60 % of 3.00
    again = run(env, "payouts", "run", *period(*p1))
    assert again.returncode == 0, again.stderr
    assert "1.80 EUR" not in again.stdout  # nothing transferred twice
