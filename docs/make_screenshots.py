"""`make screenshots`: a PNG of each main page of the dashboard, at desktop and phone widths.

It runs what `make run` runs — a fresh installation in a temporary data dir, migrated, the demo
accounts seeded, `adsbin serve --demo` with its paired player agent (the null renderer) — waits
until the demo screen has played the demo campaign, then signs in as each demo login in
Debian's Chromium (headless, through Playwright) and saves the pages it lists below into
`docs/screenshots/<role>-<page>-<desktop|phone>.png`. Pages reached through a list (a campaign,
a screen) are found by following the list's first link.

Run: make screenshots   (or .venv/bin/python docs/make_screenshots.py [--out DIR])
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from control_plane.demo import DEMO_ORGS, DEMO_PASSWORD, SUPERADMIN  # noqa: E402
from tests.live import free_port  # noqa: E402

CHROMIUM = os.environ.get("ADSBIN_TEST_CHROMIUM", "/usr/bin/chromium")
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
ADSBIN = str(Path(sys.executable).with_name("adsbin"))
# (role, login, [(name, path or "<list path> -> <link pattern>")])
ADVERTISER, VENUE, TECHNICIAN = (DEMO_ORGS[0][2][0][0], DEMO_ORGS[1][2][0][0],
                                 DEMO_ORGS[1][2][1][0])
PAGES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("visitor", "", [("welcome", "/"), ("signup", "/signup"), ("login", "/login")]),
    ("advertiser", ADVERTISER, [
        ("home", "/"), ("campaigns", "/campaigns"), ("new-campaign", "/campaigns/new"),
        ("campaign", r"/campaigns -> ^/campaigns/(?!new)[^/?]+$"), ("creatives", "/media"),
        ("invoices", "/invoices"), ("account", "/account")]),
    ("venue-owner", VENUE, [
        ("home", "/"), ("venues", "/venues"), ("venue", r"/venues -> ^/venues/(?!new)[^/?]+$"),
        ("screen", r"/venues -> ^/venues/(?!new)[^/?]+$ -> ^/screens/[^/?]+$"),
        ("pair", "/pair"), ("moderation", "/moderation"), ("earnings", "/earnings"),
        ("notifications", "/account/notifications")]),
    ("technician", TECHNICIAN, [("home", "/"), ("venues", "/venues")]),
    ("super-admin", SUPERADMIN.email, [
        ("review", "/admin/review"), ("fleet", "/admin/fleet"), ("organisations", "/admin/orgs"),
        ("revenue-share", "/admin/revenue"), ("system", "/admin/system")]),
]


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


@contextmanager
def demo_server(data_dir: Path) -> Iterator[str]:
    """`make run` in `data_dir`: migrated, seeded, served with the demo; yields its URL."""
    port = free_port()
    env = {**os.environ, "ADSBIN_DATA_DIR": str(data_dir), "ADSBIN_PASSWORD_HASHING": "fast"}
    for step in (["migrate"], ["demo"]):
        subprocess.run([ADSBIN, *step], env=env, check=True,  # noqa: S603 - our own command
                       stdout=subprocess.DEVNULL)
    log = (data_dir / "serve.log").open("wb")
    server = subprocess.Popen([ADSBIN, "serve", "--demo", "--port", str(port),  # noqa: S603
                               "--log-level", "warning"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_playing(url, server, data_dir / "serve.log")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def wait_until_playing(url: str, server: subprocess.Popen[bytes], log: Path,
                       timeout_s: float = 240) -> None:
    """Until the demo's screen reported plays of the demo campaign."""
    deadline = time.monotonic() + timeout_s
    token = None
    with httpx.Client(base_url=url, timeout=10) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"!! the server stopped: see {log}")
            try:
                if token is None:
                    answer = http.post("/v1/auth/token", json={"email": ADVERTISER,
                                                               "password": DEMO_PASSWORD})
                    token = answer.json().get("access_token") if answer.status_code == 200 \
                        else None
                if token is not None:
                    items = http.get("/v1/campaigns", headers={
                        "Authorization": f"Bearer {token}"}).json()["items"]
                    if items and items[0]["plays"] >= 3:
                        say(f"the demo screen has played {items[0]['plays']} times")
                        return
            except httpx.HTTPError:
                pass
            time.sleep(2)
    raise SystemExit(f"!! the demo did not play within {timeout_s:.0f} s: see {log}")


def resolve(page: Page, spec: str) -> str | None:
    """A path, or the first link matching each pattern followed from a list page."""
    first, *patterns = [part.strip() for part in spec.split("->")]
    path = first
    for pattern in patterns:
        page.goto(path)
        hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => "
                                          "e.getAttribute('href'))")
        found = next((h for h in hrefs if re.match(pattern, h or "")), None)
        if found is None:
            return None
        path = found
    return path


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def shoot(browser: Browser, url: str, out: Path) -> int:
    """Every page of `PAGES` at every width; the number of PNGs saved."""
    saved = 0
    for role, email, pages in PAGES:
        for width, viewport in WIDTHS.items():
            context = browser.new_context(base_url=url, viewport=viewport)
            page = context.new_page()
            if email:
                sign_in(page, email)
            for name, spec in pages:
                path = resolve(page, spec)
                if path is None:
                    say(f"{role}/{name}: nothing to follow from {spec.split('->')[0]}; skipped")
                    continue
                answer = page.goto(path)
                if answer is None or answer.status >= 400:
                    say(f"{role}/{name}: {path} answered "
                        f"{answer.status if answer else 'nothing'}; skipped")
                    continue
                page.wait_for_load_state("networkidle")
                target = out / f"{role}-{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                saved += 1
                say(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            context.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="adsbin-screenshots-") as tmp:
        say("starting the demo installation (migrate, seed, serve --demo)")
        with demo_server(Path(tmp)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            saved = shoot(browser, url, args.out)
            browser.close()
    say(f"{saved} screenshots in {args.out}")


if __name__ == "__main__":
    main()
