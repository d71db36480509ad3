"""Pieces every view of the app shares: the panel extension, the message box, figure panes, limits.

Each view is a ``param.Parameterized`` class with a pure *model* (parameters -> frames and figures, testable
without a browser) and a ``panel()`` method that lays out its widgets and outputs. Bad input never raises into
the server log: a view catches the error, shows it in its :class:`Messages` box in words, and keeps what it
showed before.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable

import panel as pn

__all__ = ["EXTENSIONS", "extension", "Messages", "plotly_pane", "MAX_N", "CSS"]

#: panel extensions the views need (plotly figures, tables); served from panel's own bundled copies.
EXTENSIONS = ("plotly", "tabulator")
#: the largest game the Games view solves interactively (a larger n is refused with a message).
MAX_N = 200

#: a little styling: readable widths, one font, no code look.
CSS = """
.wb-help { color: #555; font-size: 0.92em; }
.wb-section h3 { margin-bottom: 0.2em; }
"""


def extension() -> None:
    """``pn.extension`` with the app's extensions and styling, once per process or notebook kernel."""
    pn.extension(*EXTENSIONS, raw_css=[CSS], notifications=False)


class Messages:
    """A view's message area: one danger alert for the last error, one info line for the state.

    ``error(text)`` shows a readable problem (the view keeps its previous figures), ``clear()`` hides it,
    ``guard(what)`` is a context manager that turns any exception inside into such a message."""

    def __init__(self):
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, margin=(5, 10))
        self.info = pn.pane.Markdown("", css_classes=["wb-help"], margin=(0, 10))

    def error(self, text: str) -> None:
        self.alert.object = text
        self.alert.visible = True

    def clear(self) -> None:
        self.alert.object = ""
        self.alert.visible = False

    @property
    def text(self) -> str:
        return self.alert.object if self.alert.visible else ""

    @contextlib.contextmanager
    def guard(self, what: str, keep: str = "The view still shows the previous result."):
        """Run the body; on an exception show ``"<what>: <message>. <keep>"`` instead of raising."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 -- every problem becomes a message in the page
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.error(f"**{what}:** {text}. {keep}")
            if not isinstance(exc, (ValueError, TypeError, KeyError, FileNotFoundError)):
                traceback.print_exc()  # an unexpected failure also goes to the server log for the developer
        else:
            self.clear()

    def panel(self):
        return pn.Column(self.alert, self.info, sizing_mode="stretch_width", margin=0)


def plotly_pane(fig=None, height: int | None = None) -> pn.pane.Plotly:
    """A plotly pane that follows its container's width (the figures have no fixed width)."""
    if fig is not None:
        fig.update_layout(width=None, autosize=True)
    return pn.pane.Plotly(fig, sizing_mode="stretch_width", height=height, config={"displaylogo": False,
                                                                                  "responsive": True})


def placeholder(text: str, height: int = 300):
    """A figure with no axes that says what to do to fill it (an empty view reads as an instruction)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=16, color="#666"))
    fig.update_layout(template="plotly_white", height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      margin=dict(l=20, r=20, t=20, b=20))
    return fig


def set_figure(pane: pn.pane.Plotly, fig) -> None:
    """Replace a pane's figure (no fixed width: it follows the page); the same figure object, changed in
    place, is sent again. The figure takes the pane's height (a pane's height set after it was first drawn does
    not reach the page, so each pane keeps one height; a smaller plot area breaks plotly's axis scaling)."""
    if pane.height is not None:
        fig.layout.height = pane.height
    if fig.layout.width is not None:
        fig.update_layout(width=None, autosize=True)
    if pane.object is fig:
        pane.param.trigger("object")
    else:
        pane.object = fig


def run_guarded(messages: Messages, what: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` with exceptions turned into ``messages``; returns its value or None."""
    with messages.guard(what):
        return fn(*args, **kwargs)
    return None
