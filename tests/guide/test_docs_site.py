"""`make docs`: the MkDocs site from docs/, built in strict mode, and read in a browser.

The build is the one `make docs` runs (mkdocs.yml at the top of the repository), into a
temporary folder. Strict mode must refuse a broken link, which a small site of its own
shows. The built site is then served over loopback and opened in Debian's Chromium
(Playwright by its executable path): an interface page from the API index, and a search
for a command name that finds its page. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
MKDOCS = [
    sys.executable,
    "-m",
    "mkdocs",
    "build",
    "--strict",
]  # not --quiet: it hides warnings from strict
CHROMIUM = "/usr/bin/chromium"
# As tests/api/test_dashboard.py: root, no GPU, nothing fetched from outside.
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
ENV = {"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MKDOCS, "--config-file", str(config), "--site-dir", str(site)],
        cwd=config.parent, env=ENV, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    done = build(REPO / "mkdocs.yml", folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.mark.timeout(300)
def test_the_site_holds_the_guides_the_reference_and_a_search_index(site: Path) -> None:
    for page in (
        "index.html",
        "guides/getting-started.html",
        "guides/writing-a-module.html",
        "guides/deploying.html",
        "design/architecture.html",
        "design/session-flow.html",
        "runtime-protocol.html",
        "api/index.html",
        "api/interfaces/evse_manager.html",
        "api/types/charger_api.html",
        "api/modules/ApiServer.html",
        "exi.html",
    ):
        assert (site / page).is_file(), page
    index = (site / "search" / "search_index.json").read_text()
    assert "get_transactions" in index
    # The EXI message types, a page per schema set, made by the site's hook.
    din = (site / "exi" / "types" / "din.html").read_text()
    assert 'id="sessionsetupreqtype"' in din
    assert (site / "exi" / "types" / "iso20_dc.html").is_file()


@pytest.mark.timeout(120)
def test_strict_mode_refuses_a_broken_link(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the guide](guides/gone.md).\n")
    config.update(docs_dir="docs", nav=[{"Home": "index.md"}], hooks=[])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "guides/gone.md" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.timeout(300)
def test_an_interface_page_and_a_search_in_chromium(served: str, tmp_path: Path) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing (`make test` installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{served}/api/index.html")
        page.get_by_role("link", name="evse_manager", exact=True).first.click()
        expect(page).to_have_url(f"{served}/api/interfaces/evse_manager.html")
        expect(page.locator("h1")).to_contain_text("evse_manager")
        page.screenshot(path=tmp_path / "interface-page.png", full_page=False)

        search = page.locator("input.md-search__input")  # in the header, at this width
        search.click()
        search.fill("get_transactions")
        results = page.locator(".md-search-result__item")
        expect(results.first).to_be_visible(timeout=30_000)
        found = page.locator(".md-search-result__link", has_text="get_transactions")
        expect(found.first).to_be_visible()
        assert "evse_manager" in (found.first.get_attribute("href") or "")
        page.screenshot(path=tmp_path / "search.png", full_page=False)
        browser.close()
