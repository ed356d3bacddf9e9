"""The built site in a real browser: every page loads offline, renders its code and maths, and search works."""

from __future__ import annotations

import functools
import os
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found: install Debian's 'chromium' (.ci/run does) or set CHROMIUM=/path",
    ),
]
# Without the background-networking flags Chromium phones home at start-up (and fails offline).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Text of a page's content with code, scripts and rendered maths removed: raw TeX left
# here means KaTeX did not typeset it.
VISIBLE_TEXT_JS = """() => {
  const root = (document.querySelector('.md-content') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, .katex').forEach(n => n.remove());
  return root.textContent;
}"""
EMPTY_CODE_BLOCKS_JS = """() => Array.from(document.querySelectorAll('.md-content pre'))
  .filter(pre => pre.textContent.trim() === '').length"""
UNTYPESET_MATH_JS = """() => Array.from(document.querySelectorAll('.arithmatex'))
  .filter(node => !node.querySelector('.katex')).length"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(built_site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def sitemap_paths(site: Path) -> list[str]:
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.parse(site / "sitemap.xml").getroot()
    return [urlsplit(loc.text).path for loc in root.findall("sm:url/sm:loc", ns)]


def test_sitemap_lists_every_page(built_site: Path) -> None:
    paths = sitemap_paths(built_site)
    html_pages = [p for p in built_site.rglob("index.html") if "search" not in p.parts]
    assert len(paths) == len(html_pages) > 40


def test_every_page_loads_offline_with_code_and_maths_rendered(
    built_site: Path, server: str, browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    current = {"path": ""}

    def keep_local(route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in LOCAL_HOSTS:
            problems.append(f"{current['path']}: request leaves the machine: {route.request.url}")
            route.abort()
        else:
            route.continue_()

    context.route("**/*", keep_local)
    page.on(
        "console",
        lambda m: m.type == "error" and problems.append(f"{current['path']}: console: {m.text}"),
    )
    page.on("pageerror", lambda e: problems.append(f"{current['path']}: page error: {e}"))

    for path in sitemap_paths(built_site):
        current["path"] = path
        response = page.goto(server + path, wait_until="load")
        if response is None or response.status != 200:
            problems.append(f"{path}: status {None if response is None else response.status}")
            continue
        if page.evaluate(EMPTY_CODE_BLOCKS_JS):
            problems.append(f"{path}: empty code block")
        if page.evaluate(UNTYPESET_MATH_JS):
            problems.append(f"{path}: maths not typeset")
        text = page.evaluate(VISIBLE_TEXT_JS)
        for raw in ("$$", "\\(", "\\["):
            if raw in text:
                problems.append(f"{path}: raw {raw!r} left in the text")
    context.close()
    assert not problems, "\n".join(problems)


def test_search_finds_bellman(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(server + "/", wait_until="load")
    page.set_viewport_size({"width": 1280, "height": 900})  # the header search box is visible
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("Bellman", delay=50)  # Material searches on key events
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    assert results.count() >= 1
    assert "bellman" in page.locator(".md-search-result").inner_text().lower()
    page.close()
