"""The course site (`python -m minidni course site DIR`) builds, works offline, and reads right in a real browser.

One build per module, served from 127.0.0.1 and loaded page by page in headless Chromium
(Debian's `chromium`, driven by Playwright): no console error, no failed or outside request,
no image without pixels, and the maths typeset by the MathJax that the site carries. The
screenshots go to $MINIDNI_SITE_SHOTS (default: a temporary folder). Skips, saying why,
where Chromium, Sphinx or Playwright is missing. The README tests need none of them.
"""
import functools
import http.server
import importlib.util
import os
import pathlib
import re
import shutil
import threading
import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MISSING = [m for m in ("sphinx", "myst_nb", "jupyter_server_mathjax", "nbgrader") if not importlib.util.find_spec(m)]
# (where an attribute may load something, the attribute): each must stay inside the site
LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src", "audio": "src",
         "embed": "src", "link": "href", "object": "data"}
SHOTS = {"home": "docs/site/index.html", "tutorial": "tutorials/03_one_synthetic_gradient.html",
         "results": "docs/site/table1_mnist5k.html"}


def test_readme_is_a_front_door_of_at_most_1200_words():
    assert len(README.read_text(encoding="utf-8").split()) <= 1200


def test_every_page_the_readme_links_to_exists():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if not urlsplit(link).scheme]
    assert any(link.startswith("docs/site/") for link in local)
    assert [link for link in local if not (ROOT / link).exists()] == []


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site's folder."""
    if MISSING:
        pytest.skip(f"the site needs {', '.join(MISSING)}: pip install -e '.[site]'")
    from minidni.course.site import build
    out = tmp_path_factory.mktemp("site")
    build(out)
    return out


def pages(site):
    return sorted(site.rglob("*.html"))


class Loads(HTMLParser):
    """The URLs a page makes its browser load (not plain <a href> links)."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in LOADS and attrs.get(LOADS[tag]):
            self.urls.append(attrs[LOADS[tag]])
        if attrs.get("srcset"):
            self.urls += [part.split()[0] for part in attrs["srcset"].split(",")]


def outside(url):
    """True where `url` points outside the site (a scheme, or //host)."""
    return bool(urlsplit(url).scheme or url.startswith("//"))


def test_no_page_loads_anything_from_outside_the_site(site):
    found = []
    for page in pages(site):
        parser = Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(site)}: {url}" for url in parser.urls if outside(url)]
    for sheet in site.rglob("*.css"):
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", sheet.read_text())
        found += [f"{sheet.relative_to(site)}: {url}" for url in urls
                  if outside(url) and not url.startswith("data:")]
    assert found == []


def test_each_tutorial_page_links_its_student_notebook(site):
    for page in sorted((site / "tutorials").glob("0*.html")):
        links = re.findall(r'href="([^"]*\.ipynb)"', page.read_text(encoding="utf-8"))
        assert links, f"{page.name} has no download link"
        assert all((page.parent / link).resolve().is_file() for link in links)


def test_the_paper_map_links_an_equation_to_the_lines_that_implement_it(site):
    html = (site / "docs" / "paper_map.html").read_text(encoding="utf-8")
    assert 'href="../_modules/minidni/train/dni.html#DNI.step"' in html
    assert 'id="DNI.step"' in (site / "_modules" / "minidni" / "train" / "dni.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(site):
    """The site served over HTTP on a free port of 127.0.0.1: its base URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, Debian's, driven by Playwright."""
    if not CHROMIUM:
        pytest.skip("no chromium on PATH: apt-get install -y chromium")
    if not importlib.util.find_spec("playwright"):
        pytest.skip("playwright is not installed: pip install -e '.[site]'")
    from playwright.sync_api import sync_playwright  # lazy: only this test drives a browser
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def visit(context, url, redirect=False):
    """Load `url` (redirect: a page that sends the browser on, whose landing page is then checked);
    return (page, problems): console errors, failed or outside requests, HTTP errors."""
    page, problems = context.new_page(), []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="load")
    if redirect:                                    # DIR/index.html: wait until it has landed
        page.wait_for_url(lambda now: now != url)
        page.wait_for_load_state("load")
    return page, problems


# MathJax has started, typeset the page, and has nothing left in its queue
MATH_DONE = ("() => !!(window.MathJax && MathJax.isReady && MathJax.Hub.queue.pending === 0"
             " && MathJax.Hub.queue.running === 0 && document.querySelector('.MathJax, .MathJax_Display'))")
# the page from the last typeset equation above its first output figure down to that figure
FIGURE_WITH_MATHS = """() => {
    const figure = document.querySelector('.cell_output img').getBoundingClientRect();
    const maths = Array.from(document.querySelectorAll('.MathJax'), m => m.getBoundingClientRect().top)
        .filter(top => top < figure.top);
    const top = Math.max(0, Math.max(...maths) - 150);
    return {x: 0, y: top + window.scrollY, width: 1280, height: figure.bottom - top + 20};
}"""
BROKEN_IMAGES = "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"


def typeset_within(page, seconds):
    """Wait until MathJax has typeset `page`; False if it has not after `seconds`."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(MATH_DONE):
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(100)
    return True


def test_every_page_loads_in_chromium_with_its_images_and_maths(site, server, browser, tmp_path_factory):
    shots = pathlib.Path(os.environ.get("MINIDNI_SITE_SHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # nothing may leave 127.0.0.1: an outside request is refused, and so fails the page
    context.route(re.compile(r"^(?!" + re.escape(server) + ")"), lambda route: route.abort())
    problems, typeset = [], {}
    for path in pages(site):
        name = path.relative_to(site).as_posix()
        page, found = visit(context, server + name, 'http-equiv="refresh"' in path.read_text(encoding="utf-8"))
        if page.locator("span.math, div.math").count():
            if not typeset_within(page, seconds=30):
                found.append("MathJax did not typeset the page within 30 s")
            typeset[name] = page.locator(".MathJax, .MathJax_Display, .MathJax_SVG").count()
            found += [f"MathJax error: {e}" for e in page.locator(".MathJax_Error, merror").all_inner_texts()]
        found += [f"image without pixels: {src}" for src in page.evaluate(BROKEN_IMAGES)]
        problems += [f"{name}: {p}" for p in found]
        for shot, shot_path in SHOTS.items():
            if name == shot_path:
                clip = page.evaluate(FIGURE_WITH_MATHS) if shot == "tutorial" else None
                page.screenshot(path=str(shots / f"{shot}.png"), full_page=True, clip=clip)
        page.close()
    context.close()
    assert problems == [], "\n".join(problems)
    assert typeset.get(SHOTS["tutorial"], 0) > 0, f"no typeset maths on {SHOTS['tutorial']}"
    assert all(count > 0 for count in typeset.values()), typeset
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(f"{s}.png" for s in SHOTS)
