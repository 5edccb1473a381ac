"""The slides work offline: a deck opened from disk in headless Chromium, with every request off the machine refused.

`make slides-deps` installs the JavaScript the decks load (reveal.js, require.js, jQuery, MathJax) into
vendor/node_modules; the build copies it next to the slides. Chromium is Debian's (`make browser`), driven by the
`playwright` package, as in tests/test_browser.py. Run under tests/offline.sh the network is cut for real as well.
On failure a screenshot is saved in `build/test-artifacts/`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from course_utils import classroom
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, sync_playwright
from tests.test_browser import _missing as browser_missing

HEADING = "Transfer learning, offline"
MERMAID = "https://cdnjs.cloudflare.com/ajax/libs/mermaid/"  # nbconvert's diagram loader: a module nothing waits for


def _missing() -> str | None:
    """Why the decks cannot be checked here, or None."""
    try:
        classroom.slide_libraries(classroom.VENDOR_DIR)
    except classroom.ClassroomError as e:
        return f"{e}: run `make slides-deps` (needs Node.js and npm)"
    return browser_missing()


_MISSING = _missing()
if _MISSING and os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"The offline slides test is required here (COURSE_REQUIRE_BROWSER=1) but {_MISSING}.")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    """A two-slide deck built the way `make slides` builds it: a heading with some maths, then a second slide."""
    folder = tmp_path_factory.mktemp("slides")
    slide = {"slideshow": {"slide_type": "slide"}}
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {HEADING}\n\nThe loss $\\mathcal{{L}} = -\\log p_\\theta(y)$.", metadata=slide
        ),
        nbformat.v4.new_markdown_cell("## The second slide", metadata=slide),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "offline.ipynb")
    classroom.build_slides(folder / "out", [folder / "offline.ipynb"])
    return folder / "out" / "offline.slides.html"


def test_the_deck_loads_its_javascript_and_styles_from_its_own_folder(deck):
    html = deck.read_text()
    loaded = re.findall(r'<script[^>]* src="([^"]+)"', html) + re.findall(r'<link[^>]* href="([^"]+)"', html)
    loaded += re.findall(r'"([^"]+\.js)",?\s*$', html.split("require(", 1)[1].split("function", 1)[0], re.M)
    assert len(loaded) >= 6, f"expected jQuery, require.js, MathJax, reveal.css, the theme, reveal.js: {loaded}"
    for url in loaded:
        assert "://" not in url and not url.startswith("/"), f"{url}: the deck must not need the internet"
        assert (deck.parent / url.split("?")[0]).is_file(), f"{url} is not in the slides' folder"


def test_the_first_slide_shows_with_the_network_cut(deck):
    off_machine, page_errors = [], []

    def local_only(route):
        url = route.request.url
        if url.startswith(("file://", "http://127.0.0.1", "http://localhost")):
            route.continue_()
        else:
            off_machine.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.route("**/*", local_only)
        try:
            page.goto(deck.as_uri(), timeout=60_000)
            page.wait_for_selector(".reveal.ready", timeout=60_000)
            ready = page.evaluate("require('lib/reveal.js/dist/reveal.js').isReady()")
            first = page.locator(".reveal .slides section.present").first
            first.locator(".MathJax_CHTML").first.wait_for(timeout=60_000)  # MathJax typeset the formula
            heading, visible = first.locator("h1").inner_text(), first.is_visible()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "document.querySelector('.reveal .slides section.present h2') !== null", timeout=30_000
            )
            second = page.locator(".reveal .slides section.present h2").inner_text()
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "slides-offline-failure.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}\nrequests refused: {off_machine}\npage errors: {page_errors}")
            raise
        finally:
            browser.close()

    assert ready is True and visible and heading.strip() == HEADING
    assert second.strip() == "The second slide", "reveal.js must move to the next slide offline"
    assert page_errors == [], "no script may fail offline"
    assert all(url.startswith(MERMAID) for url in off_machine), f"the deck asked the internet for {off_machine}"
