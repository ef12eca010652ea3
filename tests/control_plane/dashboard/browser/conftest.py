"""The dashboard in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by the
bootstrap), headless, driven by Playwright, against a control plane served on loopback with its
worker and embedded broker (the agent tests' stack), and real agents (null renderer) where a
journey needs a screen.

The control plane runs on SQLite here, as in the agent tests: the pages' tests with TestClient
cover PostgreSQL. Playwright never downloads a browser: it is pointed at the system's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.player_agent.conftest import db_url, no_agent_left_behind, stack  # noqa: F401

CHROMIUM = os.environ.get("ADSBIN_TEST_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per test process."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make bootstrap` (it installs Debian's "
                    "chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, stack: Any) -> Iterator[BrowserContext]:  # noqa: F811
    """A fresh browser profile (no cookies) on the stack's control plane."""
    made = browser.new_context(base_url=stack.url, viewport=DESKTOP)
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page_errors() -> list[str]:
    """What the page's scripts threw and what the browser's CSP refused, in order."""
    return []


@pytest.fixture
def page(context: BrowserContext, page_errors: list[str]) -> Iterator[Page]:
    """A tab, failing the test on any script error or refusal by the CSP on its pages."""
    tab = context.new_page()
    errors = page_errors
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
           and "Content Security Policy" in msg.text else None)
    yield tab
    assert not errors, f"the page reported errors: {errors}"
