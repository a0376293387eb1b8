"""The SIL dashboard page in Debian's Chromium, driven by Playwright as a person would.

It plugs EV 1 in from the page, swipes its card, sees charging start and the power plot move,
unplugs, and finds the session in the history; screenshots of each step go to the test's
tmp_path. Playwright's own browser downloads are never used: Chromium is Debian's package
(`make test` installs it), started by its path with the flags a root, offline machine needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .harness import Charger

pytestmark = pytest.mark.mosquitto

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing to fetch from outside: the machine's network is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SESSION_S = 30.0  # plug-in to charging, at the harness's 10x simulated speed


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing (`make test` installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def plotted_points(page: Page) -> int:
    return int(page.locator("#evse-1 canvas.plot").get_attribute("data-points") or 0)


@pytest.mark.timeout(120)
def test_a_session_from_the_dashboard_page(
    browser: Browser, open_charger: Charger, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{open_charger.url}/")  # redirected to the dashboard
    card = page.locator("#evse-1")
    expect(page.locator("#link")).to_have_text("live")
    expect(card.locator(".state")).to_have_text("Available")
    expect(card.locator(".pilot")).to_have_text("A")
    page.screenshot(path=tmp_path / "1-idle.png", full_page=True)

    card.get_by_role("button", name="Plug in").click()
    expect(card.locator(".pilot")).to_have_text("B")
    expect(card.locator(".state")).to_have_text("Preparing")
    expect(card.locator(".card")).to_have_value("AABBCCDD")
    card.get_by_role("button", name="Swipe card").click()
    expect(card.locator(".state")).to_have_text("Charging", timeout=SESSION_S * 1000)
    expect(card.locator(".pilot")).to_have_text("C")
    expect(card.locator(".contactor")).to_have_text("closed")

    # The plot moves: new points keep coming, and they show power drawn.
    points = plotted_points(page)
    page.wait_for_function(
        f"document.querySelector('#evse-1 canvas.plot').dataset.points > {points + 40}"
    )
    page.wait_for_function("document.querySelector('#evse-1 canvas.plot').dataset.maxW > 5000")
    expect(card.locator(".soc-text")).to_contain_text("% state of charge")
    page.screenshot(path=tmp_path / "2-charging.png", full_page=True)

    card.get_by_role("button", name="Unplug").click()
    expect(card.locator(".state")).to_have_text("Available", timeout=SESSION_S * 1000)
    stored = page.locator("#history tbody tr", has_text="AABBCCDD")
    expect(stored).to_have_count(1)
    expect(stored).to_contain_text("EVDisconnected")
    expect(stored.locator("td").nth(4)).not_to_have_text("0.000 kWh")
    page.screenshot(path=tmp_path / "3-history.png", full_page=True)
    assert errors == []
