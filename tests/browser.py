"""What every browser test checks on the pages it opens: axe-core's accessibility rules
(WCAG 2.2 AA) and, on a phone's width, that the page never scrolls sideways."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Installed by `make test-js` (npm ci, the version package-lock.json pins).
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Debian's Chromium (the Makefile installs it), headless, with nothing running in the background.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@contextmanager
def chromium() -> Iterator:
    """A Chromium for a test module's pages, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own database queries
    # are plain synchronous ones and safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def install_axe(context) -> None:
    """Load axe-core into every page of `context`. An init script is injected by the browser
    itself, so the site's Content-Security-Policy (scripts from 'self' only) does not stop it."""
    assert AXE.exists(), "axe-core is missing: run `make test-js` (npm ci)"
    context.add_init_script(path=str(AXE))


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {
                runOnly: { type: "tag", values: tags },
                resultTypes: ["violations"],
            });
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")) }));
        }""",
        AXE_TAGS,
    )


def assert_accessible(page) -> None:
    violations = serious_violations(page)
    assert not violations, f"{page.url}: {violations}"


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scroll)."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def overflowing_elements(page) -> list[str]:
    """The elements that reach past the window's right edge, for a failure's message."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("body *"))
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                      + (e.className && e.className.baseVal === undefined && e.className
                         ? "." + e.className.split(" ").join(".") : ""))"""
    )


# Every Content-Security-Policy violation becomes a console error (Chromium also logs its own
# "Refused to ..." line); Playwright's init scripts are not subject to the page's policy.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


@contextmanager
def watched_page(browser, base_url: str) -> Iterator:
    """A page of a new desktop-sized context at `base_url`, with axe-core installed and every
    CSP violation collected in its `csp_violations` list."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    install_axe(context)
    opened = context.new_page()
    opened.csp_violations = []
    opened.on(
        "console",
        lambda message: (
            opened.csp_violations.append(f"{opened.url}: {message.text}")
            if "Refused to" in message.text or "CSP violation" in message.text
            else None
        ),
    )
    try:
        yield opened
    finally:
        context.close()


def checked_screenshot(page, name: str) -> None:
    """A screenshot of the page, which must also pass axe-core (no serious violation)."""
    assert_accessible(page)
    screenshot(page, name)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # From the top: the player sticks to the top of the window, and a full-page shot of a
    # scrolled page would draw it halfway down.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
