"""The control plane's FastAPI application, assembled from each domain's router.

`create_app(settings)` builds everything an app instance owns (engine, sessions, key ring, token
service) on `app.state`, so tests can run several apps side by side with different settings.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text

from control_plane import __version__, events, subscribers  # noqa: F401 (the event wiring)
from control_plane.auth import router as auth_router
from control_plane.auth import webhooks as auth_webhooks
from control_plane.auth.keys import KeyRing
from control_plane.auth.links import AccountLinks
from control_plane.auth.ratelimit import SlidingWindowLimiter, make_limit_storage
from control_plane.auth.tokens import TokenService
from control_plane.billing import router as billing_router
from control_plane.billing import webhooks as billing_webhooks
from control_plane.campaigns import router as campaigns_router
from control_plane.dashboard import account as dashboard_account
from control_plane.dashboard import admin as dashboard_admin
from control_plane.dashboard import advertiser as dashboard_advertiser
from control_plane.dashboard import audience_pages as dashboard_audience_pages
from control_plane.dashboard import auth_pages as dashboard_auth
from control_plane.dashboard import home as dashboard_home
from control_plane.dashboard import screen_pages as dashboard_screen_pages
from control_plane.dashboard import venue_owner as dashboard_venue_owner
from control_plane.dashboard.session import Sessions as DashboardSessions
from control_plane.dashboard.web import HERE as DASHBOARD_DIR
from control_plane.dashboard.web import STATIC_PATH
from control_plane.db import make_engine, make_sessionmaker
from control_plane.devices import commands_router
from control_plane.devices import hooks as device_hooks
from control_plane.devices import router as devices_router
from control_plane.devices.accounts import ExternalBroker
from control_plane.devices.broker import EmbeddedBroker, ExternalMosquitto
from control_plane.devices.messaging import start_bridge
from control_plane.docs import install_docs
from control_plane.engagement import public_router as engagement_public_router
from control_plane.engagement import router as engagement_router
from control_plane.errors import ERROR_RESPONSES, install_error_handlers
from control_plane.jobs.queue import JobContext, JobQueue
from control_plane.media import hosted as _hosted_jobs  # noqa: F401 - registers its job
from control_plane.media import processing as _media_jobs  # noqa: F401 - registers its job
from control_plane.media import router as media_router
from control_plane.media import webhooks as media_webhooks
from control_plane.middleware import BodySizeLimit, RefuseNul
from control_plane.moderation import router as moderation_router
from control_plane.notifications import account_pages, phone_router, webhooks_twilio
from control_plane.notifications import public_router as notifications_public_router
from control_plane.notifications import push_router as notifications_push_router
from control_plane.notifications import router as notifications_router
from control_plane.notifications import webhooks_resend as resend_webhooks
from control_plane.notifications.channels.registry import make_channels
from control_plane.orgs import passwords
from control_plane.orgs import router as orgs_router
from control_plane.orgs import service as orgs_service
from control_plane.payments.registry import make_payment_provider
from control_plane.query import STRICT_QUERY
from control_plane.reporting import router as reporting_router
from control_plane.revenue import payouts_router
from control_plane.revenue import router as revenue_router
from control_plane.scheduling import device_router as scheduling_device_router
from control_plane.scheduling import router as scheduling_router
from control_plane.scheduling import service as _schedule_jobs  # noqa: F401 - registers its job
from control_plane.scheduling.ticker import Ticker
from control_plane.settings import Settings, get_settings
from control_plane.storage import router as storage_router
from control_plane.storage.registry import make_object_store
from control_plane.taxonomy import router as taxonomy_router
from control_plane.venues import router as venues_router

log = logging.getLogger(__name__)


def bootstrap_admin(app: FastAPI) -> None:
    """Create the super-admin named by ADSBIN_BOOTSTRAP_ADMIN_EMAIL/_PASSWORD, once."""
    settings: Settings = app.state.settings
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    with app.state.sessionmaker() as session:
        if orgs_service.get_user_by_email(session=session, email=settings.bootstrap_admin_email):
            return
        orgs_service.ensure_superuser(session=session, email=settings.bootstrap_admin_email,
                                      password=settings.bootstrap_admin_password
                                      .get_secret_value())
        log.info("created the bootstrap super-admin %s", settings.bootstrap_admin_email)


def make_broker(settings: Settings) -> EmbeddedBroker | ExternalMosquitto | ExternalBroker:
    """The embedded Mosquitto (default); an external Mosquitto whose dynamic-security accounts
    we keep (with its admin login); or the rules for a broker that asks us (EMQX's hooks)."""
    if settings.mqtt_url is None and settings.run_broker:
        return EmbeddedBroker(settings.data_dir, host=settings.mqtt_host, port=settings.mqtt_port)
    url = settings.mqtt_url or f"mqtt://{settings.mqtt_host}:{settings.mqtt_port}"
    if settings.mqtt_admin_username and settings.mqtt_admin_password:
        service_password = settings.mqtt_service_password
        return ExternalMosquitto(
            url, admin_username=settings.mqtt_admin_username,
            admin_password=settings.mqtt_admin_password.get_secret_value(),
            service_username=settings.mqtt_service_username,
            service_password=service_password.get_secret_value() if service_password else None)
    return ExternalBroker(url)


def start_messaging(app: FastAPI) -> None:
    """Start the broker's side of this process: the embedded Mosquitto or our admin login on
    an external one, then the bridge (device messages in, playlists and commands out)."""
    settings: Settings = app.state.settings
    state = app.state
    if isinstance(state.broker, EmbeddedBroker | ExternalMosquitto):
        state.broker.start()
    if settings.mqtt_url or isinstance(state.broker, EmbeddedBroker):
        state.bridge = start_bridge(settings, state.broker, settings.mqtt_url or state.broker.url,
                                    state.sessionmaker, state.object_store)
        state.jobs.context.use_bridge(state.bridge)


def stop_messaging(app: FastAPI) -> None:
    """Stop what `start_messaging` started."""
    state = app.state
    if state.bridge is not None:
        state.bridge.stop()
    if isinstance(state.broker, EmbeddedBroker | ExternalMosquitto):
        state.broker.stop()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start what runs beside the requests (broker, bridge, scheduler, worker); stop it after."""
    settings: Settings = app.state.settings
    state = app.state
    bootstrap_admin(app)
    events.sweep(state.jobs)  # what a process that stopped had not delivered
    consumer = None
    start_messaging(app)
    ticker = None
    if settings.run_scheduler:
        ticker = Ticker(state.sessionmaker, state.jobs, interval_s=settings.schedule_tick_s,
                        minor_interval_s=settings.minor_tick_s)
        ticker.start()
    if settings.run_worker:
        consumer = state.jobs.consumer(workers=settings.queue_workers, embedded=True)
        consumer.start()
    # What exists now lives as long as the process (modules, mappers, compiled schemas):
    # set apart from the collector, it is not walked again on every full collection, which
    # the many short-lived objects of each request trigger (proof-of-play ingestion: ~10%
    # of its time). Given back on shutdown, so a process that starts apps again (tests)
    # keeps nothing.
    gc.freeze()
    yield
    gc.unfreeze()
    if ticker is not None:
        ticker.stop()
    if consumer is not None:
        consumer.stop(graceful=True)
    stop_messaging(app)
    state.jobs.close()
    state.engine.dispose()


def _state(app: FastAPI, settings: Settings) -> None:
    """Build what the app owns on `app.state`, where `dependencies.py` modules read it."""
    state = app.state
    state.settings = settings
    state.engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                               max_overflow=settings.database_max_overflow,
                               pool_timeout=settings.database_pool_timeout_s)
    state.sessionmaker = make_sessionmaker(state.engine)
    state.keyring = KeyRing(settings.keys_dir)
    state.tokens = TokenService(settings, state.keyring)
    state.account_links = AccountLinks.from_settings(settings)
    state.dashboard_sessions = DashboardSessions.from_settings(settings, state.tokens)
    state.object_store = make_object_store(settings)
    state.payments = make_payment_provider(settings, state.sessionmaker)
    state.channels = make_channels(settings, state.sessionmaker)
    state.jobs = JobQueue(JobContext(settings, state.sessionmaker, state.object_store,
                                     payments=state.payments,
                                     channels={c.value: b for c, b in state.channels.items()}))
    events.attach(state.sessionmaker, state.jobs)  # subscribers: `subscribers.py`
    state.broker = make_broker(settings)
    state.bridge = None  # started by the lifespan
    state.mqtt_device_url = settings.mqtt_device_url or state.broker.url


def _limiters(app: FastAPI, settings: Settings) -> None:
    """Make the app's rate limiters, counting in one storage: the app's own memory (so tests'
    apps do not share counts), or in scale mode the Redis every API process shares."""
    state = app.state
    storage = state.limit_storage = make_limit_storage(settings)

    def limiter(name: str, limit: int, window_s: float) -> SlidingWindowLimiter:
        return SlidingWindowLimiter(limit=limit, window_s=window_s, storage=storage, name=name)

    state.login_limiter = limiter("login", settings.login_attempts_per_minute, 60)
    state.signup_limiter = limiter("signup", settings.signup_attempts_per_minute, 60)
    state.signup_taken_limiter = limiter("signup-taken", auth_router.TAKEN_EMAILS_PER_HOUR, 3600)
    state.pairing_request_limiter = limiter("pairing-request",
                                            settings.pairing_requests_per_minute, 60)
    state.operator_pairing_limiter = limiter(
        "operator-pairing", devices_router.OPERATOR_PAIRING_REQUESTS_PER_MINUTE, 60)
    state.claim_client_limiter = limiter("claim-client", 10, 60)
    state.claim_screen_limiter = limiter("claim-screen", 10, 300)
    state.phone_code_limiter = phone_router.make_limiter()
    state.reset_client_limiter = limiter("reset-client", 10, 900)
    state.reset_email_limiter = limiter("reset-email", 3, 3600)
    state.verification_limiter = limiter("verification", 3, 600)
    state.link_limiter = limiter("link", 30, 600)
    state.invitation_limiter = limiter("invitation", orgs_router.INVITATIONS_PER_HOUR, 3600)


def _errors_and_limits(app: FastAPI, settings: Settings) -> None:
    """Install the error handlers and the request body size limits."""
    install_error_handlers(app)
    app.add_middleware(RefuseNul)  # inside the size limit: it reads only bodies under it
    app.add_middleware(BodySizeLimit, default_limit=settings.max_body_bytes,
                       limits_by_prefix={
                           "/v1/storage/": settings.max_upload_bytes,
                           # multipart framing adds a little to the largest file allowed
                           "/v1/media": max(settings.max_image_bytes,
                                            settings.max_video_bytes) + 1_048_576,
                           # the dashboard's upload (`dashboard/advertiser.py`), the same
                           "/media/upload": max(settings.max_image_bytes,
                                                settings.max_video_bytes) + 1_048_576})


DASHBOARD_PAGES = (dashboard_home, dashboard_auth, dashboard_account, dashboard_advertiser,
                   dashboard_venue_owner, dashboard_audience_pages, dashboard_screen_pages,
                   dashboard_admin)


def _routers(app: FastAPI) -> None:
    """Mount the docs, every domain's routers and the ops routes, in this order."""
    install_docs(app)
    app.include_router(auth_router.well_known)
    # The people-facing routers (not the device API, webhooks or signed storage URLs) answer 422
    # to a query parameter they do not declare (`query.py`).
    app.include_router(auth_router.router, dependencies=STRICT_QUERY)
    app.include_router(orgs_router.router, dependencies=STRICT_QUERY)
    app.include_router(auth_webhooks.router)
    app.include_router(storage_router.router)
    app.include_router(media_router.router, dependencies=STRICT_QUERY)
    app.include_router(media_webhooks.router)
    app.include_router(taxonomy_router.router, dependencies=STRICT_QUERY)
    app.include_router(venues_router.router, dependencies=STRICT_QUERY)
    app.include_router(campaigns_router.router, dependencies=STRICT_QUERY)
    app.include_router(scheduling_device_router.router)
    app.include_router(scheduling_router.router, dependencies=STRICT_QUERY)
    app.include_router(moderation_router.router, dependencies=STRICT_QUERY)
    app.include_router(devices_router.device_api)
    app.include_router(devices_router.screens_api, dependencies=STRICT_QUERY)
    app.include_router(commands_router.screens_api, dependencies=STRICT_QUERY)
    app.include_router(commands_router.device_api)
    app.include_router(device_hooks.router)
    app.include_router(reporting_router.device_api)
    app.include_router(reporting_router.router, dependencies=STRICT_QUERY)
    app.include_router(billing_router.router, dependencies=STRICT_QUERY)
    app.include_router(billing_webhooks.router)
    app.include_router(revenue_router.router, dependencies=STRICT_QUERY)
    app.include_router(notifications_router.router, dependencies=STRICT_QUERY)
    app.include_router(notifications_public_router.router)
    app.include_router(account_pages.router)
    app.include_router(resend_webhooks.router)
    app.include_router(phone_router.router, dependencies=STRICT_QUERY)
    app.include_router(webhooks_twilio.router)
    app.include_router(notifications_push_router.router, dependencies=STRICT_QUERY)
    app.include_router(payouts_router.router, dependencies=STRICT_QUERY)
    app.include_router(engagement_router.router, dependencies=STRICT_QUERY)
    app.include_router(engagement_public_router.router)  # scanner apps add parameters
    engine: Engine = app.state.engine

    @app.get("/healthz", tags=["ops"], summary="Liveness and database reachability")
    def healthz() -> dict[str, Any]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    # the dashboard's pages (`dashboard/`), at / beside the API, with their own files
    app.mount(STATIC_PATH, StaticFiles(directory=DASHBOARD_DIR / "static"), name="static")
    for pages in DASHBOARD_PAGES:
        app.include_router(pages.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A control-plane app on these settings (the environment's by default)."""
    settings = settings or get_settings()
    # docs_url/redoc_url None: FastAPI's pages load their assets from a CDN; docs.py serves them
    app = FastAPI(title="ADSBIN control plane", version=__version__, lifespan=_lifespan,
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  responses=ERROR_RESPONSES,
                  description="Marketplace for digital out-of-home advertising in small venues.")
    passwords.use(settings.password_hashing)
    _state(app, settings)
    _limiters(app, settings)
    _errors_and_limits(app, settings)
    _routers(app)
    return app
