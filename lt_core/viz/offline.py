"""Plotly without a network: notebook renderer and standalone HTML files that embed plotly.js.

Every figure the notebooks show must draw in three places with no internet access:

* a live Jupyter front-end (JupyterLab renders the ``application/vnd.plotly.v1+json`` output with its plotly
  extension);
* the executed notebook exported by ``nbconvert --to html`` (the ``text/html`` output; plotly.js itself is embedded
  once per notebook, in the output of the cell that calls :func:`setup_plotly`);
* a standalone figure file written by :func:`save_html` (plotly.js embedded in the file).

No output refers to a CDN: plotly.js is never loaded from ``cdn.plot.ly`` and MathJax is not requested (figure
labels use plain text). Figure ``div`` ids are numbered instead of random so that re-executing a notebook gives the
same outputs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer

__all__ = ["RENDERER_NAME", "DEFAULT_RENDERERS", "setup_plotly", "save_html", "figure_html"]

RENDERER_NAME = "lt_offline"
"""Name under which the offline notebook renderer is registered in ``plotly.io.renderers``."""

DEFAULT_RENDERERS = f"plotly_mimetype+{RENDERER_NAME}"
"""Renderer string set by :func:`setup_plotly`: the plotly mimetype for live front-ends plus offline HTML."""

_COUNTER = itertools.count()


class OfflineNotebookRenderer(NotebookRenderer):
    """Notebook renderer that embeds plotly.js once and requests nothing from the network.

    Differences from plotly's ``notebook`` renderer: no MathJax CDN script, no clean-up observer script, and
    sequential ``div`` ids (``lt-plot-0``, ``lt-plot-1``, ...) for reproducible outputs.
    """

    def __init__(self, default_height: int = 525) -> None:
        super().__init__(connected=False)
        self.default_height = default_height

    def to_mimebundle(self, fig_dict: dict) -> dict:
        """Return ``{"text/html": ...}`` for a figure dict (plotly.js must already be on the page)."""
        html = pio.to_html(
            fig_dict,
            config=self.config,
            auto_play=False,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=self.default_height,
            div_id=f"lt-plot-{next(_COUNTER)}",
            validate=False,
        )
        return {"text/html": html}


def setup_plotly(renderers: str = DEFAULT_RENDERERS, template: str = "plotly_white") -> str:
    """Make plotly figures display offline in notebooks; call once near the top of a notebook.

    In a Jupyter kernel this emits plotly.js (about 4.7 MB, once) into the calling cell's output, so that the
    figures drawn later also work in the exported HTML. Outside a kernel it only sets the defaults.

    Args:
        renderers: plotly renderer string; the default combines the plotly mimetype (live JupyterLab / VS Code) with
            the offline HTML renderer. Never use ``notebook_connected`` or ``iframe_connected`` (CDN).
        template: default plotly template.

    Returns:
        The renderer string now in use.
    """
    if "connected" in renderers or "cdn" in renderers:
        raise ValueError(f"renderer {renderers!r} loads plotly.js from a CDN; the notebooks must work offline")
    if RENDERER_NAME not in pio.renderers:
        pio.renderers[RENDERER_NAME] = OfflineNotebookRenderer()
    pio.templates.default = template
    pio.renderers.default = renderers
    if _in_kernel():
        # emit plotly.js now (in this cell) rather than in the output of the first figure
        pio.renderers._activate_pending_renderers(cls=NotebookRenderer)
    return renderers


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook extra
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def figure_html(fig: go.Figure, div_id: str = "figure", full_html: bool = True) -> str:
    """HTML of a figure with plotly.js embedded (no CDN, no MathJax).

    Args:
        fig: the figure.
        div_id: id of the plot's ``div`` (fixed for reproducible files).
        full_html: a complete page (``True``) or a ``div`` fragment.

    Returns:
        The HTML text.
    """
    return pio.to_html(
        fig,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=full_html,
        div_id=div_id,
        auto_play=False,
        validate=True,
    )


def save_html(fig: go.Figure, path: str | Path, title: str | None = None) -> Path:
    """Write a standalone HTML file of a figure that opens offline (plotly.js embedded, about 4.8 MB).

    Args:
        fig: the figure.
        path: destination (``.html``); parent folders are created.
        title: page title (default: the figure title or the file name).

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = figure_html(fig, div_id=_slug(path.stem))
    page_title = title or _figure_title(fig) or path.stem
    html = html.replace("<head>", f"<head><title>{_escape(page_title)}</title>", 1)
    path.write_text(html, encoding="utf-8")
    return path


def _figure_title(fig: go.Figure) -> str | None:
    text = fig.layout.title.text if fig.layout.title is not None else None
    return str(text) if text else None


def _slug(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)
    return keep or "figure"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
