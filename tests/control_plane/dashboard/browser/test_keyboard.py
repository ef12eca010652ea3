"""Signing in with the keyboard alone, in a real browser; what the browser itself enforces
(the CSP) holds."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import PASSWORD, signup


def focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement && (document.activeElement.name || "
                             "document.activeElement.textContent || '').trim()"))


def tab_to(page: Page, name: str, limit: int = 25) -> None:
    """Press Tab until the field or button called `name` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_a_person_signs_in_with_the_keyboard_only(page: Page, stack: Any) -> None:
    account = signup(stack.http, "advertiser", app=stack.app)
    page.goto("/login")
    tab_to(page, "email")
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    assert focused(page) == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{stack.url}/")
    expect(page.get_by_role("link", name="New campaign")).to_be_visible()
    tab_to(page, "Sign out")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{stack.url}/login")


def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(page: Page) -> None:
    page.goto("/login")
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_browser_refuses_an_inline_script(page: Page, page_errors: list[str]) -> None:
    page.goto("/login")
    ran = page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inline = 1'; document.body.appendChild(s);
        return window.__inline === 1; }""")
    assert ran is False  # the CSP holds in the browser, not only in the header
    assert any("Content Security Policy" in e for e in page_errors)
    page_errors.clear()  # the refusal this test asked for
