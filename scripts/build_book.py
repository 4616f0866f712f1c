"""Build a static book of the executed notebooks: an index, one page per notebook, navigation, offline plotly and math.

Usage::

    python scripts/build_book.py [--out build/book] [--notebooks notebooks]    # or: make book

The committed notebooks are stored executed, so nothing is run: every ``notebooks/NN_*.ipynb`` (07 and later ones
join automatically) is exported by nbconvert's HTML exporter (JupyterLab's look) and wrapped with a navigation bar
(contents, previous, next) and a side list of the chapters; ``index.html`` lists the chapters with their sections.

Everything works from the file system with no network: the plotly figures carry plotly.js in the notebook's own
output (``lt_core.viz.setup_plotly``); MathJax 2.7 is copied from the ``jupyter-server-mathjax`` package into
``_static/mathjax`` and the pages load it from there (HTML-CSS output with the STIX-Web fonts it ships);
require.js (needed only by widget outputs, which the committed notebooks do not store) is left out. The build
fails if a page still refers to a script on the web.

Why nbconvert: it is maintained by the Jupyter project and already a dependency (papermill, nbval), it renders the
stored outputs exactly as JupyterLab shows them (the offline plotly output included; ``tests/test_browser.py``
checks that they draw), and it needs neither Node.js (Jupyter Book 2 / MyST) nor a Sphinx tool chain (Jupyter Book
1), so the book builds in CI in seconds from the committed notebooks.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

from lt_core.reproduce import discover_notebooks  # noqa: E402

BOOK_TITLE = "Learnable Triangulation of Human Pose, step by step"
MATHJAX = "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_CONFIG = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
                    messageStyle: "none"});
</script>"""
CSS = """
body { margin: 0; }
.lt-nav { position: sticky; top: 0; z-index: 1000; display: flex; gap: 1.2em; align-items: center;
          padding: 0.5em 1.2em; background: #f4f4f4; border-bottom: 1px solid #ddd; font: 14px sans-serif; }
.lt-nav a { color: #1f4e99; text-decoration: none; } .lt-nav a:hover { text-decoration: underline; }
.lt-nav .lt-title { font-weight: bold; flex: 1; }
.lt-page { display: flex; }
.lt-side { flex: 0 0 15em; padding: 1em; font: 13px sans-serif; border-right: 1px solid #eee; }
.lt-side ol { padding-left: 1.4em; } .lt-side li { margin: 0.35em 0; } .lt-side .lt-here { font-weight: bold; }
.lt-main { flex: 1; min-width: 0; }
.lt-index { max-width: 60em; margin: 2em auto; font: 15px/1.5 sans-serif; padding: 0 1em; }
.lt-index h2 a { color: #1f4e99; text-decoration: none; }
.lt-index ul.lt-sections { columns: 2; font-size: 13px; color: #444; }
"""


@dataclass
class Chapter:
    """One notebook of the book."""

    path: Path
    page: str
    title: str
    summary: str
    sections: list[str]


def _plain(markdown: str) -> str:
    """Markdown -> plain text for the index (links, emphasis and code marks removed)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"[*`$]", "", text)
    return " ".join(text.split())


def read_chapter(path: Path) -> Chapter:
    """Title (first ``#`` heading), first paragraph and ``##`` sections of a notebook."""
    nb = nbformat.read(path, as_version=4)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    first = md[0] if md else path.stem
    title = next((line[2:].strip() for line in first.splitlines() if line.startswith("# ")), path.stem)
    paras = [p for p in first.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    summary = _plain(paras[0]) if paras else ""
    sections = [line[3:].strip() for src in md for line in src.splitlines() if line.startswith("## ")]
    return Chapter(path, path.stem + ".html", title.replace("·", "-"), summary, sections)


def _rewrite_links(page: str, rel_notebooks: str, pages: set[str]) -> str:
    """Links of the notebooks' Markdown (relative to ``notebooks/``) made valid from the book's folder.

    Only HTML attributes are rewritten: ``<script>`` blocks (plotly.js embedded in the outputs holds strings such as
    ``"<a_href="``) are left exactly as they are.
    """

    def fix(m: re.Match) -> str:
        attr, quote, url = m.group(1), m.group(2), m.group(3)
        if re.match(r"^(?:[a-z]+:|#|/|data:)", url):
            return m.group(0)
        target, _, anchor = url.partition("#")
        stem = Path(target).name
        if target.endswith(".ipynb") and Path(target).with_suffix(".html").name in pages:
            new = Path(target).with_suffix(".html").name
        elif stem in pages or target.startswith("_static/"):
            new = target
        else:
            new = f"{rel_notebooks}/{target}" if rel_notebooks != "." else target
        return f"{attr}={quote}{new}{'#' + anchor if anchor else ''}{quote}"

    parts = re.split(r"(<script\b[^>]*>.*?</script>)", page, flags=re.S | re.I)  # odd indices: scripts
    return "".join(part if k % 2 else re.sub(r'\b(href)=(["\'])([^"\']+)\2', fix, part) for k, part in enumerate(parts))


def _nav(chapters: list[Chapter], k: int | None) -> str:
    prev_link = (
        f'<a href="{chapters[k - 1].page}">&larr; {html.escape(chapters[k - 1].title)}</a>'
        if k is not None and k > 0
        else ""
    )
    next_link = (
        f'<a href="{chapters[k + 1].page}">{html.escape(chapters[k + 1].title)} &rarr;</a>'
        if k is not None and k + 1 < len(chapters)
        else ""
    )
    here = html.escape(chapters[k].title) if k is not None else ""
    return (
        f'<nav class="lt-nav"><a href="index.html">Contents</a><span class="lt-title">{here}</span>'
        f"{prev_link}{next_link}</nav>"
    )


def _side(chapters: list[Chapter], k: int) -> str:
    items = "".join(
        f'<li{" class=lt-here" if i == k else ""}><a href="{c.page}">{html.escape(c.title)}</a></li>'
        for i, c in enumerate(chapters)
    )
    return f'<aside class="lt-side"><a href="index.html">{html.escape(BOOK_TITLE)}</a><ol>{items}</ol></aside>'


def export_chapter(chapters: list[Chapter], k: int, out: Path, rel_notebooks: str) -> Path:
    """Write one chapter page; returns its path."""
    nb = nbformat.read(chapters[k].path, as_version=4)
    exporter = HTMLExporter(
        template_name="lab", mathjax_url=MATHJAX, require_js_url="", mermaid_js_url="", jquery_url=""
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": chapters[k].title}})
    body = re.sub(r'<script[^>]*\bsrc=""[^>]*>\s*</script>', "", body)
    body = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + "\n" + MATHJAX_CONFIG, body, count=1)
    body = body.replace("</head>", f"<style>{CSS}</style>\n</head>", 1)
    body = re.sub(
        r"(<body[^>]*>)",
        lambda m: (
            m.group(1) + _nav(chapters, k) + '<div class="lt-page">' + _side(chapters, k) + '<div class="lt-main">'
        ),
        body,
        count=1,
    )
    body = body.replace("</body>", f"</div></div>{_nav(chapters, k)}</body>", 1)
    body = _rewrite_links(body, rel_notebooks, {c.page for c in chapters} | {"index.html"})
    page = out / chapters[k].page
    page.write_text(body, encoding="utf-8")
    return page


def write_index(chapters: list[Chapter], out: Path) -> Path:
    """``index.html``: what the book is, how to run it, and the chapters with their sections."""
    parts = [
        f"<h1>{html.escape(BOOK_TITLE)}</h1>",
        "<p>The executed notebooks of <code>lt-triangulation</code>: a tested library and a notebook suite that "
        "teach and reproduce <em>Learnable Triangulation of Human Pose</em> (Iskakov, Burkov, Lempitsky, Malkov, "
        'ICCV 2019, <a href="https://arxiv.org/abs/1905.05754">arXiv:1905.05754</a>). Each chapter links the '
        "section and equations of the paper it implements and ends with exercises whose check cells say whether "
        "an answer is right; run them in JupyterLab (<code>jupyter lab notebooks/</code>). Figures are "
        "interactive and work offline.</p>",
    ]
    for c in chapters:
        sections = "".join(f"<li>{html.escape(_plain(s))}</li>" for s in c.sections)
        parts.append(
            f'<h2><a href="{c.page}">{html.escape(c.title)}</a></h2><p>{html.escape(c.summary)}</p>'
            f'<ul class="lt-sections">{sections}</ul>'
        )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + html.escape(BOOK_TITLE)
        + f'</title><style>{CSS}</style></head><body>{_nav(chapters, None)}<main class="lt-index">'
        + "".join(parts)
        + "</main></body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax 2.7 (from ``jupyter-server-mathjax``) to ``out/_static/mathjax``."""
    try:
        import jupyter_server_mathjax
    except ImportError as exc:  # pragma: no cover - in the notebooks extra
        raise SystemExit("jupyter-server-mathjax is not installed: pip install -e '.[notebooks]'") from exc
    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    dst = out / "_static" / "mathjax"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']https?:", re.I)


def build(out: Path, notebooks_dir: Path = ROOT / "notebooks", echo=print) -> list[Path]:
    """Build the book into ``out`` (emptied first); returns the pages written (index first)."""
    chapters = [read_chapter(p) for p in discover_notebooks(notebooks_dir)]
    if not chapters:
        raise SystemExit(f"no notebooks NN_*.ipynb in {notebooks_dir}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.html"):
        old.unlink()
    copy_mathjax(out)
    rel = os.path.relpath(notebooks_dir.resolve(), out.resolve()).replace(os.sep, "/")
    pages = [write_index(chapters, out)]
    for k, c in enumerate(chapters):
        t0 = time.perf_counter()
        pages.append(export_chapter(chapters, k, out, rel))
        echo(f"  {c.page}: {time.perf_counter() - t0:.1f} s, {pages[-1].stat().st_size / 1e6:.1f} MB")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if EXTERNAL_SCRIPT.search(text):
            raise SystemExit(f"{page.name} loads a script from the web: {EXTERNAL_SCRIPT.search(text).group(0)}")
    return pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="output folder (default build/book)")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the executed notebooks")
    args = ap.parse_args(argv)
    print(f"building the book from {args.notebooks} ...", flush=True)
    pages = build(args.out, args.notebooks)
    print(f"{len(pages)} pages in {args.out} (open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
