"""The whole loop through the dashboard, as people do it, in a real browser: an advertiser signs
up, uploads a creative and submits a campaign; a super-admin approves it; a venue owner adds a
venue and a screen, pairs it with the code a real player agent (null renderer) shows, and sees
it go online and play; the campaign's page then shows its delivery; a screenshot asked for on
the screen's page comes back there."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from control_plane.orgs import service as orgs_service
from tests import media_samples
from tests.control_plane.dashboard.browser.conftest import DESKTOP
from tests.helpers import PASSWORD, verify_email
from tests.player_agent.conftest import RunningAgent, agent_settings, until

LIVE_S = 60_000  # ms: what the pages may take to show what the agent did


def person(browser: Browser, stack: Any) -> tuple[BrowserContext, Page]:
    """A browser of one's own (cookies of one's own), failing on any script error."""
    context = browser.new_context(base_url=stack.url, viewport=DESKTOP)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


def sign_up(page: Page, kind: str, email: str, business: str) -> None:
    page.goto("/signup")
    page.get_by_label("advertise on screens" if kind == "advertiser"
                      else "put screens in my venues and earn from them").check()
    page.get_by_label("Your name").fill("Pat")
    page.get_by_label("Your business").fill(business)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name=business)).to_be_visible()


def confirm_address(stack: Any, email: str) -> None:
    """What following the emailed link does (the emails are tested on their own)."""
    with stack.app.state.sessionmaker() as session:
        user = orgs_service.get_user_by_email(session=session, email=email)
        assert user is not None
        user_id, address = user.id, user.email
    verify_email(stack.http, user_id, address, app=stack.app)


def local(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M")


def test_from_signup_to_delivery_in_the_browser(browser: Browser, stack: Any,
                                                tmp_path: Path) -> None:
    # the advertiser: signs up, uploads a picture, drafts a campaign, sees its forecast, submits
    ads, advertiser = person(browser, stack)
    sign_up(advertiser, "advertiser", "ada@example.com", "Ada's Coffee")
    confirm_address(stack, "ada@example.com")
    advertiser.goto("/campaigns/new")
    advertiser.get_by_label("Image or video").set_input_files(str(media_samples.png(tmp_path)))
    advertiser.get_by_role("button", name="Upload").click()
    advertiser.wait_for_url(re.compile(r"/campaigns/new\?media="))
    for _ in range(60):  # the renditions are made by the worker
        if advertiser.get_by_text(re.compile(r"\bready\b")).count():
            break
        advertiser.wait_for_timeout(1000)
        advertiser.reload()
    advertiser.locator("input[name=media_id]").first.check()
    advertiser.get_by_label("Seconds on screen (images)").fill("5")
    advertiser.get_by_label("Campaign name").fill("Morning coffee")
    advertiser.get_by_label("Category (IAB Ad Product Taxonomy)").select_option(index=1)
    now = datetime.now(UTC)
    advertiser.get_by_label("Starts (UTC)").fill(local(now - timedelta(hours=1)))
    advertiser.get_by_label("Ends (UTC)").fill(local(now + timedelta(days=7)))
    advertiser.get_by_label("Budget").fill("500.00")
    advertiser.get_by_label("CPM").fill("8.00")
    advertiser.get_by_role("button", name="Save the draft").click()
    advertiser.wait_for_url(re.compile(r"/campaigns/cmp_[^/?]+\?saved=1"))
    campaign_url = advertiser.url.split("?")[0]
    advertiser.get_by_role("button", name="Submit for review").click()
    expect(advertiser.get_by_text("Sent for review")).to_be_visible()

    # the super-admin approves it from the review queue
    with stack.app.state.sessionmaker() as session:
        orgs_service.ensure_superuser(session=session, email="sam@example.com",
                                      password=PASSWORD)
    admins, admin = person(browser, stack)
    admin.goto("/login")
    admin.get_by_label("Email").fill("sam@example.com")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Sign in").click()
    admin.goto("/admin/review")
    admin.get_by_role("button", name="Approve “Morning coffee”").click()
    advertiser.goto(campaign_url)
    expect(advertiser.locator(".state").first).to_have_text(re.compile("active|approved"))

    # the venue owner: a venue, a screen, paired with the code the agent shows
    venues, owner = person(browser, stack)
    sign_up(owner, "venue", "vic@example.com", "Vic's Bar")
    owner.goto("/venues/new")
    owner.get_by_label("Name", exact=True).fill("Vic's Bar")
    owner.get_by_label("Latitude").fill("48.85")
    owner.get_by_label("Longitude").fill("2.35")
    owner.get_by_label("Time zone").fill("Europe/Paris")
    owner.get_by_label("Venue type").select_option(index=1)
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        owner.locator(f"#f-hours_{day}").fill("00:00-24:00")
    owner.get_by_role("button", name="Add the venue").click()
    owner.wait_for_url(re.compile(r"/venues/ven_[^/]+$"))
    owner.get_by_label("Name", exact=True).fill("Bar TV")
    owner.get_by_label("Width (pixels)").fill("1920")
    owner.get_by_label("Height (pixels)").fill("1080")
    owner.get_by_role("button", name="Add the screen").click()
    expect(owner.locator("main")).to_contain_text("Bar TV")
    with RunningAgent(agent_settings(stack, tmp_path / "agent")) as running:
        code = running.code()
        owner.goto("/pair")
        screen = owner.locator("#f-screen_id option", has_text="Bar TV").get_attribute("value")
        owner.get_by_label("Screen", exact=True).select_option(screen)
        owner.get_by_label("Code shown on the screen").fill(code.lower())
        owner.get_by_role("button", name="Pair").click()
        owner.wait_for_url(re.compile(r"/screens/scr_"))
        live = owner.locator("#live")
        expect(live).to_contain_text("online", timeout=LIVE_S)  # the page refreshes itself
        expect(live).to_contain_text("campaign", timeout=LIVE_S)  # now playing the ad

        # a screenshot asked for on the screen's page comes back to it
        owner.get_by_role("button", name="Take a screenshot").click()
        expect(owner.locator("#live img")).to_be_visible(timeout=LIVE_S)

        # proof of play reaches the campaign's page
        until(lambda: running.agent.playback.plays >= 2, 60, "two plays")
        until(lambda: running.agent.journal.stats()["backlog"] <= 1, 60,
              "the plays uploaded (all but the one playing)")
    advertiser.goto(campaign_url)
    expect(advertiser.get_by_text("Where it played")).to_be_visible()
    expect(advertiser.locator("main")).to_contain_text("Bar TV")
    for who in (advertiser, admin, owner):
        assert not who.errors, who.errors  # type: ignore[attr-defined]
    for context in (ads, admins, venues):
        context.close()
