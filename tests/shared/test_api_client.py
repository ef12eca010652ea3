"""The typed clients of the public API (shared/api_client, shared/typescript).

The generated files are what the generators make of the current app's OpenAPI document (so a
change to the API that was not followed by `make types` fails here), the TypeScript types
compile, every path the Python client calls is one the app serves, and the client drives the
real app, in-process, from signup to a delivery report, its errors arriving as `ApiError`.
The app runs on SQLite only: what is tested is the client, which no database changes.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane import migrate
from control_plane.app import create_app
from control_plane.settings import Settings
from shared.api_client import client as client_module
from shared.api_client import generate, models
from shared.api_client.client import ApiClient, ApiError
from tests import media_samples
from tests.helpers import PASSWORD

TSC = generate.TYPESCRIPT_DIR / "node_modules" / ".bin" / "tsc"
ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
READY_TIMEOUT_S = 30


def _settings(data_dir: Path, keys_dir: Path, **changes: Any) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "keys").symlink_to(keys_dir, target_is_directory=True)
    values = {"data_dir": data_dir, "public_url": "http://testserver", "run_worker": False,
              "run_broker": False, "run_scheduler": False, "password_hashing": "fast",
              **changes}
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> dict[str, Any]:
    """The OpenAPI document of the app as it is now (building it touches no database)."""
    settings = _settings(tmp_path_factory.mktemp("openapi") / "var", keys_dir)
    app = create_app(settings)
    try:
        return app.openapi()
    finally:
        app.state.jobs.close()
        app.state.engine.dispose()


def _needs_node_modules() -> None:
    if not generate.OPENAPI_TYPESCRIPT.exists():
        pytest.fail(f"{generate.OPENAPI_TYPESCRIPT.relative_to(generate.ROOT)} is missing: run "
                    "`bash .ci/bootstrap` first (it runs `npm ci` in shared/typescript)",
                    pytrace=False)


def test_the_generated_files_are_up_to_date(document: dict[str, Any]) -> None:
    _needs_node_modules()
    wanted = generate.render(document)
    stale = {path: text for path, text in wanted.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text}
    if stale:
        diff = []
        for path, text in stale.items():
            old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            name = str(path.relative_to(generate.ROOT))
            diff += list(difflib.unified_diff(old, text.splitlines(), name, "generated",
                                              lineterm="", n=1))[:20]
        names = ", ".join(str(p.relative_to(generate.ROOT)) for p in stale)
        pytest.fail(f"out of date with the API: {names}. Run `make types` and commit them.\n"
                    + "\n".join(diff), pytrace=False)


def test_the_typescript_types_compile() -> None:
    _needs_node_modules()
    result = subprocess.run([str(TSC), "--noEmit", "--strict", "--lib", "es2022",
                             str(generate.TYPESCRIPT)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _client_calls() -> set[tuple[str, str]]:
    """(method, path template) of every request written in client.py."""
    tree = ast.parse(Path(client_module.__file__).read_text())
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("_model", "_request"):
            words = [a.value for a in node.args
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if len(words) == 2:  # not _model's own call of _request, which passes names
                calls.add((words[0].lower(), words[1]))
    return calls


def test_every_path_the_client_calls_is_in_the_document(document: dict[str, Any]) -> None:
    calls = _client_calls()
    assert len(calls) > 40, calls
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert sorted(calls - served) == []


# --- the client against the app ---------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[FastAPI]:
    """An app on a migrated SQLite database of its own, with the worker that makes media
    ready."""
    root = tmp_path_factory.mktemp("api-client")
    url = f"sqlite:///{root / 'adsbin.db'}"
    migrate.upgrade(url)
    yield create_app(_settings(root / "var", keys_dir, database_url=url, run_worker=True,
                               job_retry_base_s=0.05))


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _signed_up(http: TestClient, app: FastAPI, kind: str) -> tuple[ApiClient, str]:
    """A client acting as a new user of a new org of `kind` (address confirmed); and the
    address."""
    api = ApiClient(http=http)
    email = f"{kind}-{time.monotonic_ns()}@example.com"
    answer = api.signup(models.SignupRequest(email=email, password=PASSWORD, name="Test User",
                                             org_name=f"{kind} org", org_kind=kind))
    assert answer.org.kind == kind and answer.user.email == email
    # the token of the emailed link, made as the email job makes it
    token = app.state.account_links.verification_token(
        user=SimpleNamespace(id=answer.user.id, email=email), requested_at=int(time.time()))
    api.verify_email(token)
    return api, email


def _campaign(**changes: Any) -> models.CampaignCreate:
    now = datetime.now(UTC)
    return models.CampaignCreate(**{
        "name": "Winter beers", "category": "1003", "start_at": now - timedelta(hours=1),
        "end_at": now + timedelta(days=10), "targeting": models.Targeting(venue_type_ids=[1]),
        "budget_cents": 5_000, "cpm_cents": 1_000, "currency": "EUR", "pacing": "asap",
        **changes})


def test_a_campaign_from_signup_to_its_delivery_report(http, app, tmp_path):
    advertiser, email = _signed_up(http, app, "advertiser")
    login = advertiser.login(email, PASSWORD)
    assert login.token_type == "bearer" and advertiser.token == login.access_token
    me = advertiser.me()
    assert me.user.email == email and me.role == "admin"
    assert [org.id for org in advertiser.orgs().items] == [me.org_id]

    png = media_samples.png(tmp_path).read_bytes()
    media = advertiser.upload_media("poster.png", png, content_type="image/png")
    assert media.kind == "image" and media.sha256 == hashlib.sha256(png).hexdigest()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while (media := advertiser.media(media.id)).status != "ready":
        assert media.status == "processing" and time.monotonic() < deadline, media
        time.sleep(0.05)
    assert media.renditions

    owner, _ = _signed_up(http, app, "venue")
    venue = owner.create_venue(models.VenueCreate(
        name="Corner pub", lat=48.85, lon=2.35, timezone="Europe/Paris", venue_type_id=1,
        opening_hours=ALWAYS))
    screen = owner.create_screen(venue.id, models.ScreenCreate(
        name="Bar", width_px=1920, height_px=1080, audience_multiplier=2.0))
    assert [s.id for s in owner.screens(venue.id).items] == [screen.id]
    assert owner.screen(screen.id).status == "unpaired"

    forecast = advertiser.forecast(_campaign())
    assert forecast.eligible_screens == 1 and forecast.currency == "EUR"
    assert 0 < forecast.planned_impressions <= 5_000
    campaign = advertiser.create_campaign(_campaign())
    assert campaign.state == "draft"
    creative = advertiser.add_creative(campaign.id, media.id, duration_s=10)
    assert creative.media_id == media.id
    assert advertiser.submit_campaign(campaign.id).state == "pending_review"
    assert [c.id for c in advertiser.campaigns(state="pending_review").items] == [campaign.id]

    report = advertiser.delivery_report(group_by=["campaign"])
    assert report.group_by == ["campaign"] and report.rows == []
    assert report.from_ < report.to
    csv = advertiser.delivery_report_csv(group_by=["campaign"])
    assert csv.splitlines()[0].split(",")[0] == "campaign_id"


def test_errors_arrive_as_api_errors(http, app):
    advertiser, _ = _signed_up(http, app, "advertiser")
    draft = advertiser.create_campaign(_campaign())
    with pytest.raises(ApiError) as caught:
        advertiser.submit_campaign(draft.id)
    assert (caught.value.status, caught.value.code) == (409, "no_creatives")
    assert caught.value.message

    with pytest.raises(ApiError) as caught:
        advertiser.campaign("no-such-campaign")
    assert (caught.value.status, caught.value.code) == (404, "campaign_not_found")

    owner, _ = _signed_up(http, app, "venue")
    with pytest.raises(ApiError) as caught:
        owner.forecast(_campaign())
    assert caught.value.status == 403

    with pytest.raises(ApiError) as caught:
        ApiClient(http=http).me()
    assert (caught.value.status, caught.value.code) == (401, "unauthenticated")
