"""The static book (``make book``, scripts/build_book.py) built from the committed executed notebooks.

Built once per test session into a temporary folder (nbconvert exports only; nothing is executed). Checked: an index
that lists every notebook, navigation links that lead to existing pages, links of the notebooks' Markdown still
valid from the book's folder, no script from the web, MathJax shipped with the book; and in headless Chromium (when
installed) two chapters whose plotly figures are drawn (SVG and a WebGL canvas) and whose equations are typeset.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lt_core.reproduce import discover_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover_notebooks(ROOT / "notebooks")


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    _load_builder().build(out, ROOT / "notebooks", echo=lambda *_: None)
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag == "script" and a.get("src") is not None:
            self.scripts.append(a["src"])


def _links(page: Path) -> _Links:
    parser = _Links()
    parser.feed(
        re.sub(
            r"<script\b[^>]*>.*?</script>",
            lambda m: m.group(0)[: m.group(0).index(">") + 1] + "</script>",
            page.read_text(encoding="utf-8"),
            flags=re.S | re.I,
        )
    )
    return parser


def test_index_lists_every_notebook(book: Path):
    index = _links(book / "index.html")
    pages = [p.stem + ".html" for p in NOTEBOOKS]
    assert [h for h in index.hrefs if h in pages] == pages, index.hrefs
    text = (book / "index.html").read_text(encoding="utf-8")
    assert "arxiv.org/abs/1905.05754" in text
    for path in NOTEBOOKS:
        assert (book / (path.stem + ".html")).is_file()


def test_navigation_and_links_resolve(book: Path):
    pages = [book / (p.stem + ".html") for p in NOTEBOOKS]
    for k, page in enumerate(pages):
        links = _links(page)
        assert "index.html" in links.hrefs
        if k > 0:
            assert pages[k - 1].name in links.hrefs, f"{page.name}: no link to the previous chapter"
        if k + 1 < len(pages):
            assert pages[k + 1].name in links.hrefs, f"{page.name}: no link to the next chapter"
        for href in links.hrefs:
            if re.match(r"^(?:[a-z]+:|#)", href):
                continue
            target = (book / href.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{page.name}: broken link {href}"


def test_links_are_rewritten_outside_scripts_only():
    """plotly.js holds ``"<a_href="`` in a string: rewriting it as a link broke the script and no figure drew."""
    script = '<script type="text/javascript">v=v.replace(/<a href=/ig,"<a_href=");w="<a href=\'x.png\'>"</script>'
    page = f'<p><a href="figures/x.png">x</a> <a href="02_b.ipynb#s">b</a></p>{script}<a href="https://a.b/c">c</a>'
    out = _load_builder()._rewrite_links(page, "../notebooks", {"02_b.html"})
    assert script in out
    assert '<a href="../notebooks/figures/x.png">' in out and '<a href="02_b.html#s">' in out
    assert '<a href="https://a.b/c">' in out


def test_book_is_offline(book: Path):
    assert (book / "_static" / "mathjax" / "MathJax.js").is_file()
    for page in [book / "index.html", *(book / (p.stem + ".html") for p in NOTEBOOKS)]:
        for src in _links(page).scripts:
            assert not re.match(r"^(?:https?:)?//", src), f"{page.name} loads {src} from the web"
            assert (book / src.split("?")[0]).is_file(), f"{page.name}: missing script {src}"


def test_make_book_target():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^book:.*\n\t.*scripts/build_book\.py", makefile, re.M)


# ------------------------------------------------------------------------------------------------- browser
def _chromium_dom(page: Path, tmp_path: Path) -> str:
    from test_browser import CHROMIUM, chromium

    if CHROMIUM is None:
        pytest.skip("headless browser test needs Chromium: apt-get update && apt-get install -y chromium")
    proc = chromium(["--dump-dom", page.as_uri()], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("chapter", ["01_camera_geometry", "04_volumetric_triangulation"])
def test_book_pages_draw_in_a_browser(book: Path, chapter: str, tmp_path: Path):
    """Two chapters opened from disk: plotly figures drawn (3D scenes with WebGL), equations typeset by MathJax."""
    from test_browser import parse_dom, plot_counts, strip_code

    page = book / f"{chapter}.html"
    dom = _chromium_dom(page, tmp_path)
    counts = plot_counts(parse_dom(dom))
    assert counts["plots"] >= 1 and counts["main_svg"] >= counts["plots"], counts
    assert counts["gl_canvas"] >= 1, f"no 3D scene drew with WebGL in {chapter}: {counts}"
    body = strip_code(dom)
    assert re.search(r'class="MathJax(?:_Display)?"', body), f"{chapter}: no equation typeset by MathJax"
    assert "Math Processing Error" not in body
    assert 'class="lt-nav"' in body
